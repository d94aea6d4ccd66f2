// keypin audit against Python `requests` (Debian's python3-requests on Debian's /usr/bin/python3), through the audit
// proxy to a genuine HTTPS server:
// - unpinned, trusting the audit CA (verify= a CA file holding it): intercepted, its Authorization masked;
// - pinned the way Python apps pin: a transport adapter whose connection checks the sha256 of the peer
//   certificate's SPKI right after the handshake and closes without sending (measured: handshake completed, then
//   closed with no data), judged `pinned` with the unpinned host of the same client as its control;
// - not trusting the audit CA (verify= the public root only): Python's OpenSSL sends unknown_ca: ca-not-trusted.
// The pinning adapter is proven to accept the genuine server's key first (direct, no proxy), so its refusal
// through the proxy is the pin at work and not a broken check.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import { createChain, makeTempDir, opensslPinOfCertificate, startHttpsServer } from "@keypin/testkit";

const run = promisify(execFile);
const PYTHON = "/usr/bin/python3";
const TOKEN = "Bearer python-requests-secret-0xBEEF";
const OPEN = "open.py.audit.test";
const PINNED = "pinned.py.audit.test";

// One Session, as an app has: a pinning adapter mounted for the pinned host's URLs, the default one elsewhere.
// argv: verify (CA file), proxy URL or "-", the pinned host, its pin (sha256/base64), then the URLs to fetch.
const harness = `import base64, hashlib, json, sys
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from cryptography import x509
from cryptography.hazmat.primitives import serialization

class PinMismatch(Exception):
    pass

def pinned_connection(pin):
    class PinnedHTTPSConnection(HTTPSConnection):
        def connect(self):
            super().connect()
            der = self.sock.getpeercert(binary_form=True)
            spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            got = "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()
            if got != pin:
                self.sock.close()  # after the handshake, before any request byte
                raise PinMismatch("pin mismatch: expected " + pin + ", got " + got)
    return PinnedHTTPSConnection

class PinningAdapter(HTTPAdapter):
    def __init__(self, pin, **kwargs):
        self.pin = pin
        super().__init__(**kwargs)
    def get_connection(self, url, proxies=None):
        pool = super().get_connection(url, proxies)
        pool.ConnectionCls = pinned_connection(self.pin)
        return pool

verify, proxy, pinned_host, pin = sys.argv[1:5]
session = requests.Session()
session.trust_env = False
session.verify = verify
if proxy != "-":
    session.proxies = {"https": proxy}
session.mount("https://" + pinned_host + ":", PinningAdapter(pin, max_retries=0))
for url in sys.argv[5:]:
    try:
        r = session.get(url, headers={"Authorization": "${TOKEN}", "Connection": "close"}, timeout=20)
        print("OK", r.status_code, url, flush=True)
    except Exception as e:
        chain = []
        while e is not None:
            chain.append(type(e).__name__ + ": " + str(e))
            e = e.__cause__ or e.__context__
        kind = "PINFAIL" if any(c.startswith("PinMismatch") for c in chain) else "ERROR"
        print(kind, url, json.dumps(chain)[:600], flush=True)
`;

async function python(script: string, args: string[]): Promise<string[]> {
  const { stdout } = await run(PYTHON, [script, ...args], { timeout: 60_000 });
  return stdout.trim().split("\n");
}

test("Python requests: unpinned with the audit CA intercepted, pinned by a transport adapter pinned (control: its unpinned host), without the CA ca-not-trusted", async () => {
  // Missing tools fail the test (never skip it): CI installs python3-requests (.ci/run).
  assert.ok(existsSync(PYTHON), `${PYTHON} is missing: apt-get install -y python3`);
  const probe = await run(PYTHON, ["-c", "import requests, cryptography; print(requests.__version__)"]).catch(
    (error: Error) =>
      assert.fail(
        `python3-requests or python3-cryptography is missing: apt-get install -y python3-requests python3-cryptography (${error.message})`,
      ),
  );
  console.log(`python3 requests ${probe.stdout.trim()}`);

  using tmp = makeTempDir("keypin-audit-python-");
  const genuine = await createChain("p256", [OPEN, PINNED, "localhost"], "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  const script = join(tmp.dir, "harness.py");
  writeFileSync(script, harness);
  const trustsAudit = join(tmp.dir, "trusts-audit.pem");
  const publicOnly = join(tmp.dir, "public-only.pem");
  writeFileSync(trustsAudit, genuine.root.pem + ca.certPem);
  writeFileSync(publicOnly, genuine.root.pem);
  const pin = opensslPinOfCertificate(genuine.leaf.pem);
  const url = (host: string) => `https://${host}:${server.port}/`;
  const options = {
    ca,
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
  };
  try {
    // The pinning adapter, straight to the genuine server (no proxy, "localhost" is one of the leaf's names):
    // it accepts the genuine key and refuses another pin, so what it does through the proxy is its check at work.
    const direct = await python(script, [
      publicOnly,
      "-",
      "localhost",
      pin,
      `https://localhost:${server.port}/`,
    ]);
    assert.match(direct[0]!, /^OK 200 /, direct.join("\n"));
    const wrong = `sha256/${Buffer.alloc(32, 7).toString("base64")}`;
    const directWrong = await python(script, [
      publicOnly,
      "-",
      "localhost",
      wrong,
      `https://localhost:${server.port}/`,
    ]);
    assert.match(directWrong[0]!, /^PINFAIL /, directWrong.join("\n"));

    // Session 1: the client trusts the audit CA (as a debug build does).
    const audit = await startAudit(options);
    const lines = await python(script, [trustsAudit, audit.proxy.url, PINNED, pin, url(OPEN), url(PINNED)]);
    const report = await audit.finish();
    console.log(`python (trusting the audit CA):\n${lines.join("\n")}`);
    console.log(
      report.verdicts
        .map(
          (v) =>
            `  ${v.host} ${v.verdict}${v.evidence.control ? ` (control ${v.evidence.control.host})` : ""}`,
        )
        .join("\n"),
    );
    assert.deepEqual(
      lines.map((l) => l.split(" ")[0]),
      ["OK", "PINFAIL"],
      lines.join("\n"),
    );
    const of = (r: typeof report, host: string) => r.verdicts.filter((v) => v.host === host);
    const open = of(report, OPEN);
    assert.deepEqual(
      open.map((v) => v.verdict),
      ["intercepted"],
    );
    assert.ok(open[0]!.evidence.requests?.[0]?.headerNames.some((h) => h.toLowerCase() === "authorization"));
    const pinned = of(report, PINNED);
    assert.deepEqual(
      pinned.map((v) => v.verdict),
      ["pinned"],
      JSON.stringify(pinned, null, 2),
    );
    assert.equal(pinned[0]!.evidence.control?.host, OPEN);
    assert.equal(pinned[0]!.evidence.inferred, true);
    assert.equal(
      pinned[0]!.evidence.refusals?.every((r) => r.handshake),
      true,
      "the adapter's check runs after the handshake",
    );
    assert.equal(pinned[0]!.client.fingerprint, open[0]!.client.fingerprint, "the same TLS client");
    assert.ok(!JSON.stringify(report).includes("python-requests-secret"), "the token is masked");
    assert.deepEqual(report.interceptedDomains, [OPEN]);

    // Session 2: the client does not trust the audit CA.
    const untrusted = await startAudit(options);
    const refused = await python(script, [
      publicOnly,
      untrusted.proxy.url,
      PINNED,
      pin,
      url(OPEN),
      url(PINNED),
    ]);
    const refusedReport = await untrusted.finish();
    console.log(`python (without the audit CA):\n${refused.join("\n")}`);
    console.log(refusedReport.verdicts.map((v) => `  ${v.host} ${v.verdict}`).join("\n"));
    assert.deepEqual(
      refused.map((l) => l.split(" ")[0]),
      ["ERROR", "ERROR"],
      refused.join("\n"),
    );
    assert.match(refused[0]!, /CERTIFICATE_VERIFY_FAILED/);
    assert.deepEqual(
      [...refusedReport.verdicts]
        .sort((x, y) => x.host.localeCompare(y.host))
        .map((v) => [v.host, v.verdict]),
      [
        [OPEN, "ca-not-trusted"],
        [PINNED, "ca-not-trusted"],
      ],
    );
    assert.ok(
      refusedReport.verdicts.every((v) => v.evidence.refusals?.some((r) => /UNKNOWN_CA/i.test(r.reason))),
      JSON.stringify(refusedReport.verdicts, null, 2),
    );
    assert.deepEqual(refusedReport.interceptedDomains, []);
  } finally {
    await server.close();
  }
});
