import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { checkDebugProxyCa } from "@keypin/export";
import { makePki } from "@keypin/testkit";

// The files a developer might pick for a debugging proxy's CA, made by openssl the way mitmproxy and
// Charles lay theirs out: the CA certificate alone (PEM and DER), key and certificate in one file
// (mitmproxy-ca.pem), the key alone, and a certificate made for one host (not a CA).
const dir = mkdtempSync(join(tmpdir(), "keypin-debug-ca-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
makePki(dir, ["api.myapp.com"]); // ca.pem + ca.key (a CA), leaf.pem (not a CA)
openssl("x509", "-in", "ca.pem", "-outform", "der", "-out", "ca.der");
openssl("pkcs8", "-topk8", "-in", "ca.key", "-passout", "pass:secret", "-out", "ca-encrypted.key");
const read = (name: string) => readFileSync(join(dir, name));
const text = (name: string) => read(name).toString("latin1");
const bytes = (s: string) => Buffer.from(s, "latin1");

describe("checkDebugProxyCa", () => {
  it("accepts the proxy's CA certificate alone, PEM or DER", () => {
    checkDebugProxyCa(read("ca.pem"), "ca.pem");
    checkDebugProxyCa(read("ca.der"), "ca.der");
    checkDebugProxyCa(bytes(text("leaf.pem") + text("ca.pem")), "bundle.pem");
  });

  it("refuses a file that holds the CA's private key, with or without the certificate", () => {
    const keyAndCert = bytes(text("ca.key") + text("ca.pem")); // mitmproxy-ca.pem's layout
    for (const [name, input] of [
      ["mitmproxy-ca.pem", keyAndCert],
      ["cert-then-key.pem", bytes(text("ca.pem") + text("ca.key"))],
      ["ca.key", read("ca.key")],
      ["ca-encrypted.key", read("ca-encrypted.key")],
    ] as const) {
      assert.throws(
        () => checkDebugProxyCa(input, name),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "ERR_KEYPIN_EXPORT_OPTION");
          assert.match(error.message, new RegExp(`^${name.replace(".", "\\.")} holds a private key`));
          assert.match(error.message, /mitmproxy-ca-cert\.pem/);
          assert.doesNotMatch(error.message, /\n/);
          assert.doesNotMatch(error.message, /BEGIN|MII|MIG|MHc/, "no key material in the message");
          return true;
        },
      );
    }
  });

  it("refuses a certificate that is not a CA, a public key, and what is not a certificate at all", () => {
    assert.throws(() => checkDebugProxyCa(read("leaf.pem"), "leaf.pem"), {
      code: "ERR_KEYPIN_EXPORT_OPTION",
      message: /^leaf\.pem holds no CA certificate/,
    });
    const publicKey = openssl("x509", "-in", "ca.pem", "-pubkey", "-noout");
    assert.throws(
      () => checkDebugProxyCa(bytes(text("ca.pem") + publicKey.toString("latin1")), "with-key.pem"),
      {
        code: "ERR_KEYPIN_EXPORT_OPTION",
        message: /^with-key\.pem holds a public key, not only certificates/,
      },
    );
    const csr = openssl("req", "-new", "-key", "leaf.key", "-subj", "/CN=api.myapp.com");
    assert.throws(() => checkDebugProxyCa(csr, "leaf.csr"), {
      code: "ERR_KEYPIN_EXPORT_OPTION",
      message: /^leaf\.csr holds a certificate request \(CSR\), not only certificates/,
    });
    assert.throws(() => checkDebugProxyCa(bytes('{ "domains": {} }'), "keypin.json"), {
      code: "ERR_KEYPIN_EXPORT_OPTION",
      message: /^keypin\.json: .*the debug proxy CA must be only the proxy's CA certificate/,
    });
  });
});
