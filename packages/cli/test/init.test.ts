import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { validatePolicy } from "@keypin/core";
import {
  answerHello,
  generateKeyFile,
  type Issued,
  makeCa,
  makeLeaf,
  makeTempDir,
  openssl,
  opensslPinOfCertificate,
  opensslPinOfPublicKey,
  type RunningServer,
  runCli,
  runCliOnTerminal,
  startHttpsServer,
} from "@keypin/testkit";

interface PinJson {
  pin: string;
  role: string;
  label: string;
}
interface PolicyJson {
  $schema: string;
  domains: Record<string, { pins: PinJson[]; includeSubdomains?: boolean }>;
}

describe("keypin init", () => {
  const tmp = makeTempDir();
  let root: Issued;
  let intermediate: Issued;
  let leaf: Issued;
  let server: RunningServer;
  let backupCsr: string;
  let backupPin: string;
  const route = () => ["--connect-to", `::127.0.0.1:${server.port}`, "--ca", root.certPath];

  before(async () => {
    root = makeCa(tmp.dir, "root", "/O=Keypin Test/CN=Init Root");
    intermediate = makeCa(tmp.dir, "intermediate", "/O=Keypin Test/CN=Init Issuing CA", { issuer: root });
    leaf = makeLeaf(tmp.dir, "leaf", ["api.myapp.test"], intermediate);
    server = await startHttpsServer({
      key: leaf.key,
      cert: `${leaf.cert}${intermediate.cert}`,
      handler: answerHello,
    });
    const backupKey = generateKeyFile(join(tmp.dir, "backup.key"), "ec-p384");
    backupCsr = join(tmp.dir, "backup.csr");
    openssl(["req", "-new", "-key", backupKey, "-subj", "/CN=api.myapp.test", "-out", backupCsr]);
    backupPin = opensslPinOfPublicKey(openssl(["pkey", "-in", backupKey, "-pubout"]));
  });

  after(async () => {
    await server.close();
    tmp.remove();
  });

  it("never waits for input without a terminal: no backup source is exit 2 at once, nothing written", async () => {
    const out = join(tmp.dir, "no-tty.json");
    const result = await runCli(["init", "api.myapp.test", "--out", out, ...route()], {
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
    const out = join(tmp.dir, "tty.json");
    const cancelled = await runCliOnTerminal(
      ["init", "api.myapp.test", "--out", out, ...route()],
      "quit [q]?",
      "q",
      {
        cwd: tmp.dir,
      },
    );
    assert.equal(cancelled.prompted, true, cancelled.output);
    assert.equal(cancelled.code, 2, cancelled.output);
    assert.match(cancelled.output, /init cancelled: no backup key chosen/);
    assert.equal(existsSync(out), false);
    const accepted = await runCliOnTerminal(
      ["init", "api.myapp.test", "--out", out, ...route()],
      "quit [q]?",
      "y",
      {
        cwd: tmp.dir,
      },
    );
    assert.equal(accepted.code, 0, accepted.output);
    const written = JSON.parse(readFileSync(out, "utf8")) as PolicyJson;
    const keyPin = opensslPinOfPublicKey(
      openssl(["pkey", "-in", join(tmp.dir, "keypin-backup", "keypin-backup.key.pem"), "-pubout"]),
    );
    assert.equal(written.domains["api.myapp.test"]!.pins.find((p) => p.role === "backup")?.pin, keyPin);
  });

  it("writes a valid policy with leaf, CA and backup pins, roles and labels (platforms that accept any one pin)", async () => {
    const out = join(tmp.dir, "keypin.json");
    // Every format but ios-ats: ATS cannot take leaf + CA + backup (init-platforms.test.ts covers it).
    const anyOnePin = "android-nsc,trustkit,okhttp-kotlin,okhttp-java,react-native,node";
    const result = await runCli(
      [
        "init",
        "api.myapp.test",
        "--backup",
        backupCsr,
        "--out",
        out,
        ...route(),
        "--platforms",
        anyOnePin,
        "--json",
      ],
      {
        keepStdinOpen: true,
      },
    );
    assert.equal(result.code, 0, result.stderr);
    const written = JSON.parse(readFileSync(out, "utf8")) as PolicyJson;
    const printed = JSON.parse(result.stdout) as { file: string; policy: PolicyJson };
    assert.deepEqual(printed.policy, written);
    assert.equal(printed.file, out);
    const validation = validatePolicy(written);
    assert.ok(validation.ok, JSON.stringify(validation));
    const pins = written.domains["api.myapp.test"]!.pins;
    assert.deepEqual(
      pins.map((p) => [p.role, p.pin]),
      [
        ["leaf", opensslPinOfCertificate(leaf.cert)],
        ["intermediate", opensslPinOfCertificate(intermediate.cert)],
        ["backup", backupPin],
      ],
    );
    assert.ok(pins.every((p) => p.label.length > 0));
    assert.match(written.$schema, /keypin\.schema\.json$/);
  });

  it("never overwrites an existing policy without --force", async () => {
    const out = join(tmp.dir, "existing.json");
    writeFileSync(out, '{ "hand": "written" }\n');
    const refused = await runCli(["init", "api.myapp.test", "--backup", backupCsr, "--out", out, ...route()]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, "");
    assert.match(
      refused.stderr,
      /existing\.json already exists; keypin init never overwrites it without --force/,
    );
    assert.equal(readFileSync(out, "utf8"), '{ "hand": "written" }\n');
    const forced = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      backupCsr,
      "--out",
      out,
      "--force",
      ...route(),
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok((JSON.parse(readFileSync(out, "utf8")) as PolicyJson).domains["api.myapp.test"]);
  });

  it("generates the backup key pair with --generate-backup, key mode 0600, and pins it", async () => {
    const out = join(tmp.dir, "generated.json");
    const dir = join(tmp.dir, "generated-backup");
    const result = await runCli([
      "init",
      "api.myapp.test",
      "--generate-backup",
      dir,
      "--out",
      out,
      ...route(),
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const keyFile = join(dir, "keypin-backup.key.pem");
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const keyPin = opensslPinOfPublicKey(openssl(["pkey", "-in", keyFile, "-pubout"]));
    const written = JSON.parse(readFileSync(out, "utf8")) as PolicyJson;
    const backup = written.domains["api.myapp.test"]!.pins.find((p) => p.role === "backup");
    assert.equal(backup?.pin, keyPin);
    assert.ok(!result.stdout.includes("PRIVATE KEY"), "the key is never printed");
  });

  it("refuses a backup that is in the live chain", async () => {
    const out = join(tmp.dir, "live-backup.json");
    const result = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      intermediate.certPath,
      "--out",
      out,
      ...route(),
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /is in the live chain of api\.myapp\.test:443/);
    assert.equal(existsSync(out), false);
  });

  it("takes no pins from an untrusted chain: exit 1 and no file", async () => {
    const out = join(tmp.dir, "untrusted.json");
    const result = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      backupCsr,
      "--out",
      out,
      "--connect-to",
      `::127.0.0.1:${server.port}`,
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /not trusted/);
    assert.equal(existsSync(out), false);
  });
});
