// The audit's test matrix: real clients (curl, Node's tls, undici, @keypin/node, openssl s_client) through the audit
// proxy on 127.0.0.1 to a genuine HTTPS server, every cell's verdict asserted. Each session runs its clients on
// several hosts, so the control rule (same address and ClientHello fingerprint intercepted elsewhere) is exercised,
// and sessions where no control exists show that a refusal is never called `pinned` without one.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as connectTls, type SecureVersion } from "node:tls";
import { type AuditCa, type AuditReport, loadOrCreateAuditCa, startAudit, type Verdict } from "@keypin/audit";
import { createPinnedDispatcher } from "@keypin/node";
import {
  createChain,
  curl,
  makeTempDir,
  opensslPinOfCertificate,
  policyOf,
  startHttpsServer,
  type TempDir,
  type TestChain,
  type TestServer,
} from "@keypin/testkit";
import { ProxyAgent, fetch as undiciFetch } from "undici";

const A = "a.audit.test";
const B = "b.audit.test";
const C = "c.audit.test";
const TOKEN = "Bearer audit-matrix-secret-0xC0FFEE";
const COOKIE = "session=audit-cookie-secret-77";

let genuine: TestChain;
let server: TestServer;
let tmp: TempDir;
let ca: AuditCa;
const files = { trustsAudit: "", publicOnly: "" };

before(async () => {
  genuine = await createChain("p256", [A, B, C], "genuine");
  server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  tmp = makeTempDir("keypin-audit-test-");
  ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  files.trustsAudit = join(tmp.dir, "trusts-audit.pem");
  files.publicOnly = join(tmp.dir, "public-only.pem");
  writeFileSync(files.trustsAudit, genuine.root.pem + ca.certPem);
  writeFileSync(files.publicOnly, genuine.root.pem);
});

after(async () => {
  await server.close();
  tmp.remove();
});

async function session(
  run: (proxyUrl: string, port: number) => Promise<void>,
  expectPinned: string[] = [],
  hosts?: string[],
) {
  const audit = await startAudit({
    ca,
    expectPinned,
    ...(hosts ? { hosts } : {}),
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
  });
  await run(audit.proxy.url, audit.proxy.port);
  return audit.finish();
}

const url = (host: string): string => `https://${host}:${server.port}/`;
const pin = (): string => opensslPinOfCertificate(genuine.leaf.pem).slice("sha256/".length);
const curlThrough = (proxy: string, host: string, extra: string[] = []) =>
  curl(["--proxy", proxy, "-H", `Authorization: ${TOKEN}`, "-H", `Cookie: ${COOKIE}`, ...extra, url(host)]);

function verdictOf(report: AuditReport, host: string): Verdict[] {
  return report.verdicts.filter((v) => v.host === host);
}
function only(report: AuditReport, host: string): Verdict {
  const found = verdictOf(report, host);
  assert.equal(
    found.length,
    1,
    `one verdict for ${host}: ${JSON.stringify(report.verdicts.map((v) => [v.host, v.verdict]))}`,
  );
  return found[0]!;
}

/** A raw Node TLS client through the proxy: CONNECT, then tls.connect on the tunnel, one GET. */
function nodeTls(
  proxyPort: number,
  host: string,
  options: { ca: string[]; version: SecureVersion },
): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port: proxyPort,
      method: "CONNECT",
      path: `${host}:${server.port}`,
    });
    req.on("connect", (_res, socket) => {
      const tls = connectTls({
        socket,
        servername: host,
        ca: options.ca,
        minVersion: options.version,
        maxVersion: options.version,
      });
      tls.on("secureConnect", () =>
        tls.end(`GET / HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${TOKEN}\r\nConnection: close\r\n\r\n`),
      );
      tls.on("data", () => {});
      tls.on("close", () => resolve("closed"));
      tls.on("error", (error: Error & { code?: string }) => resolve(error.code ?? error.message));
    });
    req.on("error", (error) => resolve(error.message));
    req.end();
  });
}

describe("keypin audit: the client matrix", () => {
  test("curl: unpinned on one host (intercepted, the control), --pinnedpubkey on two others (pinned, with the control named)", async () => {
    const codes: (number | null)[] = [];
    const report = await session(
      async (proxy) => {
        codes.push((await curlThrough(proxy, C, ["--cacert", files.trustsAudit])).code);
        codes.push(
          (await curlThrough(proxy, A, ["--cacert", files.trustsAudit, "--pinnedpubkey", `sha256//${pin()}`]))
            .code,
        );
        codes.push(
          (await curlThrough(proxy, B, ["--cacert", files.trustsAudit, "--pinnedpubkey", `sha256//${pin()}`]))
            .code,
        );
      },
      [A, B],
    );
    assert.deepEqual(codes, [0, 90, 90]); // the control got through; the pinned ones refused (curl's exit 90)
    const c = only(report, C);
    assert.equal(c.verdict, "intercepted");
    assert.equal(c.evidence.requests?.[0]?.requestLine, "GET / HTTP/1.1");
    assert.ok(c.evidence.requests?.[0]?.headerNames.includes("authorization"));
    for (const host of [A, B]) {
      const v = only(report, host);
      assert.equal(v.verdict, "pinned", v.explanation);
      assert.equal(v.evidence.control?.host, C);
      assert.equal(v.evidence.inferred, true);
      assert.equal(v.evidence.refusals?.[0]?.handshake, true); // curl checks the pin after the handshake
      assert.equal(v.client.fingerprint, c.client.fingerprint);
    }
    assert.deepEqual(report.interceptedDomains, [C]);
    assert.deepEqual(report.expectation, { hosts: [A, B], ok: true, failing: [] });
    // The pins of C's real chain, from the real server: the genuine leaf's, as openssl computes it.
    const upstream = report.upstreamPins.find((p) => p.host === C);
    assert.equal(upstream?.pins[0]?.pin, opensslPinOfCertificate(genuine.leaf.pem));
    assert.equal(upstream?.pins[1]?.pin, opensslPinOfCertificate(genuine.intermediate.pem));
    // No secret in the report: the header values are masked, the CA key is not there.
    const json = JSON.stringify(report);
    assert.ok(
      !json.includes("audit-matrix-secret") && !json.includes("audit-cookie-secret"),
      "no token in the report",
    );
    assert.match(json, /<masked, \d+ chars>/);
  });

  test("curl without the audit CA on two hosts: ca-not-trusted (it sends unknown_ca), never pinned", async () => {
    const report = await session(
      async (proxy) => {
        assert.equal((await curlThrough(proxy, A, ["--cacert", files.publicOnly])).code, 60);
        assert.equal((await curlThrough(proxy, B, ["--cacert", files.publicOnly])).code, 60);
      },
      [A],
    );
    for (const host of [A, B]) {
      const v = only(report, host);
      assert.equal(v.verdict, "ca-not-trusted");
      assert.match(v.evidence.refusals?.[0]?.reason ?? "", /UNKNOWN_CA/);
    }
    assert.equal(report.expectation?.ok, false);
    assert.deepEqual(report.expectation?.failing, [{ host: A, verdict: "ca-not-trusted" }]);
  });

  test("curl pinned on two hosts without any control: not pinned (curl's post-handshake close alone proves nothing)", async () => {
    const report = await session(async (proxy) => {
      for (const host of [A, B])
        assert.equal(
          (
            await curlThrough(proxy, host, [
              "--cacert",
              files.trustsAudit,
              "--pinnedpubkey",
              `sha256//${pin()}`,
            ])
          ).code,
          90,
        );
    });
    for (const host of [A, B]) assert.notEqual(only(report, host).verdict, "pinned");
  });

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    test(`Node tls ${version}: with the CA intercepted; without it, on one host undetermined and on two ca-not-trusted, never pinned`, async () => {
      const intercepted = await session(async (_proxy, port) => {
        assert.equal(await nodeTls(port, A, { ca: [genuine.root.pem, ca.certPem], version }), "closed");
      });
      assert.equal(only(intercepted, A).verdict, "intercepted");
      const one = await session(async (_proxy, port) => {
        assert.equal(
          await nodeTls(port, A, { ca: [genuine.root.pem], version }),
          "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        );
      });
      assert.equal(only(one, A).verdict, "undetermined");
      const two = await session(async (_proxy, port) => {
        for (const host of [A, B])
          assert.equal(
            await nodeTls(port, host, { ca: [genuine.root.pem], version }),
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
          );
      });
      for (const host of [A, B]) assert.equal(only(two, host).verdict, "ca-not-trusted");
      // Measured: on TLS 1.2 Node completes the handshake (the server's side) before it checks the chain, as curl
      // --pinnedpubkey does; on TLS 1.3 it closes inside the handshake. Either way, no alert.
      assert.equal(only(one, A).evidence.refusals?.[0]?.handshake, version === "TLSv1.2");
    });
  }

  test("undici unpinned (intercepted, the control) and @keypin/node pinned on another host: same ClientHello, so pinned by inference", async () => {
    const statuses: (number | string)[] = [];
    const report = await session(async (proxy) => {
      const agent = new ProxyAgent({ uri: proxy, requestTls: { ca: [genuine.root.pem, ca.certPem] } });
      const response = await undiciFetch(url(C), { dispatcher: agent, headers: { authorization: TOKEN } });
      statuses.push(response.status);
      await response.text();
      await agent.close();
      const policy = policyOf({ [A]: [`sha256/${pin()}`, opensslPinOfCertificate(genuine.root.pem)] });
      const pinned = createPinnedDispatcher({ policy, ca: [ca.certPem], proxy });
      statuses.push(
        await fetch(url(A), { dispatcher: pinned } as unknown as RequestInit).then(
          (r) => r.status,
          (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
        ),
      );
    });
    assert.deepEqual(statuses, [200, "ERR_KEYPIN_PIN_MISMATCH"]);
    assert.equal(only(report, C).verdict, "intercepted");
    const a = only(report, A);
    // Measured: keypin's TLS options leave Node's ClientHello as it is, so undici is its control.
    assert.equal(a.client.fingerprint, only(report, C).client.fingerprint);
    assert.equal(a.verdict, "pinned", a.explanation);
    assert.equal(a.evidence.control?.host, C);
    assert.equal(a.evidence.refusals?.[0]?.handshake, false); // refused inside the handshake (TLS 1.3), no alert
  });

  test("openssl s_client trusting the CA: intercepted once it sends data; a handshake alone is not application data", async () => {
    const report = await session(async (_proxy, port) => {
      const run = (host: string, input: string) =>
        new Promise<number>((resolve) => {
          const child = spawn(
            "openssl",
            [
              "s_client",
              "-proxy",
              `127.0.0.1:${port}`,
              "-connect",
              `${host}:${server.port}`,
              "-servername",
              host,
              "-CAfile",
              files.trustsAudit,
              "-verify_return_error",
              "-quiet",
            ],
            { stdio: ["pipe", "ignore", "ignore"] },
          );
          child.stdin.end(input);
          child.on("close", (code) => resolve(code ?? -1));
        });
      await run(C, `GET / HTTP/1.1\r\nHost: ${C}\r\nConnection: close\r\n\r\n`);
    });
    assert.equal(only(report, C).verdict, "intercepted");
  });

  test("--hosts: only the audited hosts are judged (another app's host is left out, so it cannot be a control)", async () => {
    const report = await session(
      async (proxy) => {
        assert.equal((await curlThrough(proxy, C, ["--cacert", files.trustsAudit])).code, 0);
        assert.equal(
          (await curlThrough(proxy, A, ["--cacert", files.trustsAudit, "--pinnedpubkey", `sha256//${pin()}`]))
            .code,
          90,
        );
      },
      [],
      [A],
    );
    assert.deepEqual(
      report.verdicts.map((v) => [v.host, v.verdict]),
      [[A, "undetermined"]],
    );
    assert.deepEqual(report.interceptedDomains, []);
  });
});
