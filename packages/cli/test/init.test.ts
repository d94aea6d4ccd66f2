import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { validatePolicy } from "@keypin/core";
import {
  openssl,
  opensslPinOfCertificate,
  opensslPinOfPublicKey,
  runCli,
  runCliOnTerminal,
} from "@keypin/testkit";
import { type PolicyJson, useInitServer } from "./init-fixture.js";

describe("keypin init", () => {
  const fx = useInitServer("Init", "ec-p384");

  it("never waits for input without a terminal: no backup source is exit 2 at once, nothing written", async () => {
    const out = join(fx.tmp.dir, "no-tty.json");
    const result = await fx.init(["--out", out], {
      keepStdinOpen: true,
      killAfterMs: 20_000,
    });
    assert.equal(result.signal, null, "init hung waiting for input and had to be killed");
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /^keypin: init needs a backup pin and there is no terminal to ask on: pass --backup FILE/,
    );
    assert.equal(existsSync(out), false);
  });

  it("asks on a terminal, and generates the backup when the answer is yes", async () => {
    const out = join(fx.tmp.dir, "tty.json");
    const cancelled = await runCliOnTerminal(
      ["init", "api.myapp.test", "--out", out, ...fx.route()],
      "quit [q]?",
      "q",
      {
        cwd: fx.tmp.dir,
      },
    );
    assert.equal(cancelled.prompted, true, cancelled.output);
    assert.equal(cancelled.code, 2, cancelled.output);
    assert.match(cancelled.output, /init cancelled: no backup key chosen/);
    assert.equal(existsSync(out), false);
    const accepted = await runCliOnTerminal(
      ["init", "api.myapp.test", "--out", out, ...fx.route()],
      "quit [q]?",
      "y",
      {
        cwd: fx.tmp.dir,
      },
    );
    assert.equal(accepted.code, 0, accepted.output);
    const written = fx.readPolicy(out);
    const keyPin = opensslPinOfPublicKey(
      openssl(["pkey", "-in", join(fx.tmp.dir, "keypin-backup", "keypin-backup.key.pem"), "-pubout"]),
    );
    assert.equal(written.domains["api.myapp.test"]!.pins.find((p) => p.role === "backup")?.pin, keyPin);
  });

  it("writes a valid policy with leaf, CA and backup pins, roles and labels (platforms that accept any one pin)", async () => {
    const out = join(fx.tmp.dir, "keypin.json");
    // Every format but ios-ats: ATS cannot take leaf + CA + backup (init-platforms.test.ts covers it).
    const anyOnePin = "android-nsc,trustkit,okhttp-kotlin,okhttp-java,react-native,node";
    const result = await fx.initWithBackup(["--out", out, "--platforms", anyOnePin, "--json"], {
      keepStdinOpen: true,
    });
    assert.equal(result.code, 0, result.stderr);
    const written = fx.readPolicy(out);
    const printed = JSON.parse(result.stdout) as { file: string; policy: PolicyJson };
    assert.deepEqual(printed.policy, written);
    assert.equal(printed.file, out);
    const validation = validatePolicy(written);
    assert.ok(validation.ok, JSON.stringify(validation));
    const pins = written.domains["api.myapp.test"]!.pins;
    assert.deepEqual(
      pins.map((p) => [p.role, p.pin]),
      [
        ["leaf", opensslPinOfCertificate(fx.leaf.cert)],
        ["intermediate", opensslPinOfCertificate(fx.intermediate.cert)],
        ["backup", fx.backupPin],
      ],
    );
    assert.ok(pins.every((p) => p.label.length > 0));
    assert.match(written.$schema, /keypin\.schema\.json$/);
  });

  it("never overwrites an existing policy without --force", async () => {
    const out = join(fx.tmp.dir, "existing.json");
    writeFileSync(out, '{ "hand": "written" }\n');
    const refused = await fx.initWithBackup(["--out", out]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, "");
    assert.match(
      refused.stderr,
      /existing\.json already exists; keypin init never overwrites it without --force/,
    );
    assert.equal(readFileSync(out, "utf8"), '{ "hand": "written" }\n');
    const forced = await fx.initWithBackup(["--out", out, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(fx.readPolicy(out).domains["api.myapp.test"]);
  });

  it("never writes --out over one of its inputs, even with --force: the backup CSR and the --ca file stay", async () => {
    const csr = readFileSync(fx.backupCsr);
    const overBackup = await fx.initWithBackup(["--out", fx.backupCsr, "--force"]);
    assert.equal(overBackup.code, 2, overBackup.stderr);
    assert.match(
      overBackup.stderr,
      /an input of this command: writing it would destroy that input, so nothing was written/,
    );
    assert.deepEqual(readFileSync(fx.backupCsr), csr);
    const root = readFileSync(fx.root.certPath);
    const overCa = await fx.initWithBackup(["--out", fx.root.certPath, "--force"]);
    assert.equal(overCa.code, 2, overCa.stderr);
    assert.deepEqual(readFileSync(fx.root.certPath), root);
  });

  it("never writes --out over the backup key or CSR that --generate-backup makes, even with --force", async () => {
    const dir = join(fx.tmp.dir, "generated-over");
    for (const file of ["keypin-backup.key.pem", "keypin-backup.csr.pem"]) {
      const out = join(dir, ".", file);
      const result = await fx.init(["--generate-backup", dir, "--out", out, "--force"]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        /is where --generate-backup writes the backup (key|CSR): the policy would replace it, so nothing was written/,
      );
      assert.equal(existsSync(join(dir, "keypin-backup.key.pem")), false, "no key made for a refused run");
    }
    // The control: another --out next to them writes the policy and keeps the key.
    const result = await fx.init(["--generate-backup", dir, "--out", join(dir, "keypin.json"), "--force"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(readFileSync(join(dir, "keypin-backup.key.pem"), "utf8"), /^-----BEGIN PRIVATE KEY-----/);
  });

  it("makes no backup key for a run it refuses, so the suggested re-run works", async () => {
    const dir = join(fx.tmp.dir, "refused-backup");
    const out = join(fx.tmp.dir, "refused.json");
    // ios-ats (a default platform) cannot take includeSubdomains: refused after the host was read.
    const refused = await fx.init(["--generate-backup", dir, "--include-subdomains", "--out", out]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /nothing was written/);
    assert.equal(existsSync(join(dir, "keypin-backup.key.pem")), false, "no key left behind");
    assert.equal(existsSync(out), false);
    const again = await fx.init(["--generate-backup", dir, "--out", out]);
    assert.equal(again.code, 0, again.stderr);
    const keyPin = opensslPinOfPublicKey(
      openssl(["pkey", "-in", join(dir, "keypin-backup.key.pem"), "-pubout"]),
    );
    assert.equal(
      fx.readPolicy(out).domains["api.myapp.test"]!.pins.find((p) => p.role === "backup")?.pin,
      keyPin,
    );
  });

  it("generates the backup key pair with --generate-backup, key mode 0600, and pins it", async () => {
    const out = join(fx.tmp.dir, "generated.json");
    const dir = join(fx.tmp.dir, "generated-backup");
    const result = await fx.init(["--generate-backup", dir, "--out", out, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const keyFile = join(dir, "keypin-backup.key.pem");
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const keyPin = opensslPinOfPublicKey(openssl(["pkey", "-in", keyFile, "-pubout"]));
    const written = fx.readPolicy(out);
    const backup = written.domains["api.myapp.test"]!.pins.find((p) => p.role === "backup");
    assert.equal(backup?.pin, keyPin);
    assert.ok(!result.stdout.includes("PRIVATE KEY"), "the key is never printed");
  });

  it("refuses a backup that is in the live chain", async () => {
    const out = join(fx.tmp.dir, "live-backup.json");
    const result = await fx.init(["--backup", fx.intermediate.certPath, "--out", out]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /is in the live chain of api\.myapp\.test:443/);
    assert.equal(existsSync(out), false);
  });

  it("takes no pins from an untrusted chain: exit 1 and no file", async () => {
    const out = join(fx.tmp.dir, "untrusted.json");
    const result = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      fx.backupCsr,
      "--out",
      out,
      ...fx.connectTo(),
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /not trusted/);
    assert.equal(existsSync(out), false);
  });
});
