// IPv6 hosts through the audit: curl to https://[::1]:port/ (a CONNECT to [::1]) accepts the leaf forged with an
// IPv6 IP SAN, and --hosts / --expect-pinned name the host in any IPv6 spelling ("[0:0::1]", "::1"): one host.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { canonicalHost, loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import { createChain, curl, makeTempDir, startHttpsServer } from "@keypin/testkit";

test("canonicalHost: brackets dropped, IPv6 in canonical text, names lower-cased", () => {
  assert.equal(canonicalHost("[0:0:0:0:0:0:0:1]"), "::1");
  assert.equal(canonicalHost("2001:DB8:0:0::10"), "2001:db8::10");
  assert.equal(canonicalHost("[::FFFF:127.0.0.1]"), "::ffff:7f00:1");
  assert.equal(canonicalHost("API.Example.test"), "api.example.test");
  assert.equal(canonicalHost("127.0.0.1"), "127.0.0.1");
});

test("an IPv6 host: curl through the audit is intercepted, and --hosts / --expect-pinned spelled otherwise still name it", async () => {
  using tmp = makeTempDir("keypin-audit-ipv6-");
  // The genuine server (on 127.0.0.1, where upstreamAddress dials) has both IP SANs.
  const genuine = await createChain("p256", ["127.0.0.1", "::1"], "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  const trusts = join(tmp.dir, "trusts.pem");
  writeFileSync(trusts, genuine.root.pem + ca.certPem);
  const audit = await startAudit({
    ca,
    hosts: ["[0:0::1]"],
    expectPinned: ["0:0:0:0:0:0:0:1"],
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
  });
  try {
    const r = await curl([
      "--proxy",
      audit.proxy.url,
      "--cacert",
      trusts,
      "-H",
      "Authorization: Bearer ipv6-secret",
      `https://[::1]:${server.port}/`,
    ]);
    assert.equal(r.code, 0, `curl accepts the leaf forged for ::1 (an IPv6 IP SAN): ${r.stderr}`);
  } finally {
    const report = await audit.finish();
    await server.close();
    assert.deepEqual(
      report.verdicts.map((v) => [v.host, v.verdict]),
      [["::1", "intercepted"]],
      "judged under --hosts [0:0::1]",
    );
    assert.deepEqual(report.interceptedDomains, ["::1"]);
    // The expected host was seen (not `not-seen`) and fails for what it is: intercepted.
    assert.deepEqual(report.expectation, {
      hosts: ["::1"],
      ok: false,
      failing: [{ host: "::1", verdict: "intercepted" }],
    });
    assert.ok((report.upstreamPins[0]?.pins.length ?? 0) >= 2, JSON.stringify(report.upstreamPins));
    assert.ok(!JSON.stringify(report).includes("ipv6-secret"));
  }
});
