// The live table's feed (startAudit's onUpdate): throttled, since the verdicts are computed over the whole session,
// yet never stale at the end: the last call, made by finish(), carries the final verdicts and the last tunnel.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadOrCreateAuditCa, startAudit, type Verdict } from "@keypin/audit";
import { createChain, curl, makeTempDir, startHttpsServer } from "@keypin/testkit";

test("onUpdate: at once for the first close, at most once per close after that, and the last call has the final verdicts", async () => {
  using tmp = makeTempDir("keypin-audit-live-");
  const hosts = ["a.live.audit.test", "b.live.audit.test", "c.live.audit.test"];
  const genuine = await createChain("p256", hosts, "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  const trusts = join(tmp.dir, "trusts.pem");
  writeFileSync(trusts, genuine.root.pem + ca.certPem);
  const calls: { verdicts: Verdict[]; tunnel: number }[] = [];
  let firstCallAfter: number | undefined;
  const audit = await startAudit({
    ca,
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
    onUpdate: (verdicts, record) => {
      calls.push({ verdicts, tunnel: record.tunnel });
    },
  });
  try {
    // The first close is reported before the next client starts (no wait for a slot).
    assert.equal(
      (await curl(["--proxy", audit.proxy.url, "--cacert", trusts, `https://${hosts[0]}:${server.port}/`]))
        .code,
      0,
    );
    await audit.proxy.idle();
    firstCallAfter = calls.length;
    // Then nine tunnels at once, on three hosts.
    const runs = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        curl(["--proxy", audit.proxy.url, "--cacert", trusts, `https://${hosts[i % 3]}:${server.port}/`]),
      ),
    );
    assert.deepEqual(
      runs.map((r) => r.code),
      new Array(9).fill(0),
    );
    await audit.proxy.idle();
  } finally {
    const report = await audit.finish();
    await server.close();
    assert.equal(firstCallAfter, 1, "the first close is reported at once");
    // Never more calls than closes (how many are folded depends on timing: not asserted).
    assert.ok(calls.length >= 2 && calls.length <= 10, `${calls.length} calls for 10 closed tunnels`);
    const last = calls.at(-1)!;
    assert.deepEqual(last.verdicts, report.verdicts, "the last call carries the final verdicts");
    assert.deepEqual(
      last.verdicts.map((v) => [v.host, v.verdict, v.evidence.tunnels.length]),
      hosts.map((h, i) => [h, "intercepted", i === 0 ? 4 : 3]),
    );
    const tunnels = report.verdicts.flatMap((v) => v.evidence.tunnels);
    assert.ok(tunnels.includes(last.tunnel));
  }
});
