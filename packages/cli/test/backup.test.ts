import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeTempDir, openssl, opensslPinOfPublicKey, runCli } from "@keypin/testkit";

interface BackupJson {
  pin: string;
  keyType: string;
  algorithm: string;
  subject: string;
  keyFile: string;
  csrFile: string;
  encrypted: boolean;
}

describe("keypin backup", () => {
  const tmp = makeTempDir();
  after(() => tmp.remove());

  it("writes the key with mode 0600 and a CSR that openssl verifies, and prints the key's pin", async () => {
    const dir = join(tmp.dir, "ec");
    const result = await runCli([
      "backup",
      "--out",
      dir,
      "--algorithm",
      "ec-p384",
      "--subject",
      "CN=api.myapp.test, O=My App",
      "--dns",
      "api.myapp.test",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const made = JSON.parse(result.stdout) as BackupJson;
    assert.equal(made.keyType, "EC-P384");
    assert.equal(statSync(made.keyFile).mode & 0o777, 0o600);
    const keyPem = readFileSync(made.keyFile, "utf8");
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(made.pin, opensslPinOfPublicKey(openssl(["pkey", "-in", made.keyFile, "-pubout"])));
    const verify = openssl(["req", "-in", made.csrFile, "-noout", "-verify", "-subject", "-text"]).toString();
    assert.match(verify, /subject=CN ?= ?api\.myapp\.test, ?O ?= ?My App/);
    assert.match(verify, /DNS:api\.myapp\.test/);
    assert.equal(made.pin, opensslPinOfPublicKey(openssl(["req", "-in", made.csrFile, "-pubkey", "-noout"])));
    const body = keyPem.split("\n").slice(1, -2).join("");
    assert.ok(!result.stdout.includes(body.slice(0, 40)), "the key never appears on stdout");
    assert.ok(!result.stderr.includes(body.slice(0, 40)), "the key never appears on stderr");
  });

  it("never overwrites an existing key or CSR", async () => {
    const dir = join(tmp.dir, "twice");
    const first = await runCli(["backup", "--out", dir, "--json"]);
    assert.equal(first.code, 0, first.stderr);
    const made = JSON.parse(first.stdout) as BackupJson;
    const before = readFileSync(made.keyFile, "utf8");
    const second = await runCli(["backup", "--out", dir, "--json"]);
    assert.equal(second.code, 2);
    assert.equal(second.stdout, "");
    assert.match(
      second.stderr,
      /keypin-backup\.key\.pem: cannot write the key: already exists; keypin never overwrites keys/,
    );
    assert.equal(readFileSync(made.keyFile, "utf8"), before);

    // A CSR in the way: the key must not be left behind without its CSR either.
    const dir2 = join(tmp.dir, "csr-in-the-way");
    await runCli(["backup", "--out", dir2, "--name", "other"]);
    writeFileSync(join(dir2, "mine.csr.pem"), "precious\n");
    const blocked = await runCli(["backup", "--out", dir2, "--name", "mine"]);
    assert.equal(blocked.code, 2);
    assert.equal(readFileSync(join(dir2, "mine.csr.pem"), "utf8"), "precious\n");
    assert.throws(() => statSync(join(dir2, "mine.key.pem")), /ENOENT/);
  });

  it("encrypts the key with --passphrase-file (PKCS#8) so that openssl needs the passphrase", async () => {
    const dir = join(tmp.dir, "rsa");
    const pass = join(tmp.dir, "pass.txt");
    writeFileSync(pass, "a long passphrase\n");
    const result = await runCli([
      "backup",
      "--out",
      dir,
      "--algorithm",
      "rsa-2048",
      "--passphrase-file",
      pass,
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const made = JSON.parse(result.stdout) as BackupJson;
    assert.equal(made.encrypted, true);
    assert.equal(made.keyType, "RSA-2048");
    assert.match(readFileSync(made.keyFile, "utf8"), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    assert.throws(() => openssl(["pkey", "-in", made.keyFile, "-pubout", "-passin", "pass:wrong"]));
    const pub = openssl(["pkey", "-in", made.keyFile, "-pubout", "-passin", `file:${pass}`]);
    assert.equal(made.pin, opensslPinOfPublicKey(pub));
  });

  it("prints the pin and what to do with the key", async () => {
    const result = await runCli(["backup", "--out", join(tmp.dir, "human")]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /pin {2}sha256\/[A-Za-z0-9+/]{43}=/);
    assert.match(result.stdout, /offline/);
    assert.match(result.stdout, /Roll to it/);
    assert.match(result.stdout, /"role": "backup"/);
  });

  it("refuses an unknown algorithm and a bad subject with exit 2", async () => {
    const algorithm = await runCli(["backup", "--out", join(tmp.dir, "x"), "--algorithm", "dsa-1024"]);
    assert.equal(algorithm.code, 2);
    assert.match(
      algorithm.stderr,
      /--algorithm must be one of ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096/,
    );
    const subject = await runCli(["backup", "--out", join(tmp.dir, "y"), "--subject", "not a name"]);
    assert.equal(subject.code, 2);
    assert.match(subject.stderr, /--subject/);
  });
});
