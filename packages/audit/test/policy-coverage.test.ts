// A policy with includeSubdomains covers more than its names: a subdomain a client reached (api.myapp.test under
// myapp.test) must be pinned too, or the expectation fails; a covered subdomain nobody reached is no failure
// (not-seen is for the policy's own names). Real clients (Node's TLS) through the proxy; the lookup is
// @keypin/core's findDomainPolicy, as `keypin audit --policy` passes it (review 2026-12: the subdomain's
// interception passed the audit).
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import { expectationOf, loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import { findDomainPolicy, parsePolicy } from "@keypin/core";
import { createChain, makeTempDir, opensslPinOfCertificate, startHttpsServer } from "@keypin/testkit";

/** A Node TLS client through the proxy to `host`; sends a request when its handshake succeeds. */
async function nodeClient(proxyPort: number, host: string, tls: ConnectionOptions): Promise<string> {
  const socket = connect(proxyPort, "127.0.0.1");
  socket.on("error", () => {});
  socket.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`);
  const [head] = (await once(socket, "data")) as [Buffer];
  assert.match(head.toString("latin1"), /^HTTP\/1\.1 200/);
  return new Promise((resolve) => {
    const client = connectTls({ socket, servername: host, ...tls });
    client.on("secureConnect", () => {
      client.resume();
      client.end(`GET /me HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer covered-token\r\n\r\n`);
      client.once("close", () => resolve("sent"));
    });
    client.on("error", (e: Error & { code?: string }) => {
      client.destroy();
      resolve(e.code ?? e.message);
    });
  });
}

test("--policy with includeSubdomains: an intercepted subdomain fails the expectation; without includeSubdomains (the control) it does not", async () => {
  using tmp = makeTempDir("keypin-audit-policy-cover-");
  const genuine = await createChain("p256", ["myapp.test", "*.myapp.test", "cdn.other.test"], "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  let audit: Awaited<ReturnType<typeof startAudit>> | undefined;
  try {
    const pins = [opensslPinOfCertificate(genuine.leaf.pem), opensslPinOfCertificate(genuine.root.pem)];
    const policyWith = (includeSubdomains: boolean) =>
      parsePolicy({ domains: { "myapp.test": { pins, includeSubdomains } } }).policy;
    const covering = policyWith(true);
    const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
    audit = await startAudit({
      ca,
      expectPinned: covering.domains.map((d) => d.domain),
      expectCovers: (host) => findDomainPolicy(covering, host) !== undefined,
      upstreamCa: [genuine.root.pem],
      upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
    });
    const port = audit.proxy.port;
    assert.equal(await nodeClient(port, "cdn.other.test", { ca: [ca.certPem] }), "sent", "the control");
    assert.notEqual(await nodeClient(port, "myapp.test", {}), "sent", "the policy's name: refused");
    assert.equal(await nodeClient(port, "api.myapp.test", { ca: [ca.certPem] }), "sent", "its token sent");
    await audit.proxy.idle({ timeoutMs: 5000 });
    const report = await audit.finish();
    const of = (host: string) => report.verdicts.filter((v) => v.host === host).map((v) => v.verdict);
    assert.deepEqual(of("myapp.test"), ["pinned"]);
    assert.deepEqual(of("api.myapp.test"), ["intercepted"]);
    assert.deepEqual(report.expectation, {
      hosts: ["myapp.test"],
      ok: false,
      failing: [{ host: "api.myapp.test", verdict: "intercepted" }],
    });
    // Nobody reached v2.myapp.test: a covered host need not be seen.
    assert.ok(!report.verdicts.some((v) => v.host === "v2.myapp.test"));
    // The control: the same verdicts under a policy without includeSubdomains pass.
    const exact = policyWith(false);
    assert.deepEqual(
      expectationOf(report.verdicts, ["myapp.test"], {
        covers: (host) => findDomainPolicy(exact, host) !== undefined,
      }),
      { ok: true, failing: [] },
    );
  } finally {
    await audit?.proxy.close();
    await server.close();
  }
});
