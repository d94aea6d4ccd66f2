import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import plist from "@expo/plist";
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
  startHttpsServer,
} from "@keypin/testkit";

interface PolicyJson {
  domains: Record<string, { pins: { pin: string; role: string; label: string }[] }>;
}
const b64 = (pin: string) => pin.slice("sha256/".length);

describe("keypin init --platforms and --ios-identities", () => {
  const tmp = makeTempDir();
  let root: Issued;
  let intermediate: Issued;
  let leaf: Issued;
  let server: RunningServer;
  let backupCsr: string;
  let backupPin: string;
  const route = () => ["--connect-to", `::127.0.0.1:${server.port}`, "--ca", root.certPath];

  before(async () => {
    root = makeCa(tmp.dir, "root", "/O=Keypin Test/CN=Platforms Root");
    intermediate = makeCa(tmp.dir, "intermediate", "/O=Keypin Test/CN=Platforms CA", { issuer: root });
    leaf = makeLeaf(tmp.dir, "leaf", ["api.myapp.test"], intermediate);
    server = await startHttpsServer({
      key: leaf.key,
      cert: `${leaf.cert}${intermediate.cert}`,
      handler: answerHello,
    });
    const backupKey = generateKeyFile(join(tmp.dir, "backup.key"), "ec-p256");
    backupCsr = join(tmp.dir, "backup.csr");
    openssl(["req", "-new", "-key", backupKey, "-subj", "/CN=api.myapp.test", "-out", backupCsr]);
    backupPin = opensslPinOfPublicKey(openssl(["pkey", "-in", backupKey, "-pubout"]));
  });
  after(async () => {
    await server.close();
    tmp.remove();
  });

  const exportAll = async (policy: string) => {
    for (const format of [
      "android-nsc",
      "ios-ats",
      "trustkit",
      "okhttp-kotlin",
      "okhttp-java",
      "react-native",
      "node",
    ]) {
      const r = await runCli(["export", "--policy", policy, "--format", format]);
      assert.equal(r.code, 0, `${format}: ${r.stderr}`);
    }
  };

  it("by default fits every format: leaf + backup (ATS leaf identities), says why, how to renew and which plan flag", async () => {
    const out = join(tmp.dir, "default.json");
    const result = await runCli(["init", "api.myapp.test", "--backup", backupCsr, "--out", out, ...route()]);
    assert.equal(result.code, 0, result.stderr);
    const pins = (JSON.parse(readFileSync(out, "utf8")) as PolicyJson).domains["api.myapp.test"]!.pins;
    assert.deepEqual(
      pins.map((p) => [p.role, p.pin]),
      [
        ["leaf", opensslPinOfCertificate(leaf.cert)],
        ["backup", backupPin],
      ],
    );
    assert.match(
      result.stdout,
      /android-nsc, ios-ats, trustkit, okhttp-kotlin, okhttp-java, react-native, node: each one writes this policy exactly/,
    );
    assert.match(result.stdout, /requires a match in each category/);
    assert.match(result.stdout, /the default \(--ios-identities leaf\)/);
    assert.match(result.stdout, /Pass --ios-identities ca/);
    assert.match(result.stdout, /certbot renew --reuse-key/);
    assert.match(result.stdout, /keypin plan --reuse-key api\.myapp\.test/);
    // The README's next commands now work for every format, ios-ats included.
    await exportAll(out);
    const ats = await runCli(["export", "--policy", out, "--format", "ios-ats"]);
    const entry = plist.default.parse(ats.stdout).NSAppTransportSecurity.NSPinnedDomains["api.myapp.test"];
    assert.deepEqual(
      entry.NSPinnedLeafIdentities.map((i: Record<string, string>) => i["SPKI-SHA256-BASE64"]),
      pins.map((p) => b64(p.pin)),
    );
    assert.equal(entry.NSPinnedCAIdentities, undefined);
  });

  it("--json records the choice: platforms, the pin shape, iOS identities and the renewal advice", async () => {
    const out = join(tmp.dir, "json.json");
    const result = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      backupCsr,
      "--out",
      out,
      ...route(),
      "--json",
      "--platforms",
      "ios-ats",
      "--platforms",
      "android-nsc",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as {
      platforms: string[];
      pinSet: { shape: string; iosIdentities: string; renewals: string[] };
    };
    assert.deepEqual(printed.platforms, ["android-nsc", "ios-ats"]);
    assert.equal(printed.pinSet.shape, "leaf-backup");
    assert.equal(printed.pinSet.iosIdentities, "leaf");
    assert.ok(printed.pinSet.renewals.some((r) => r.includes("keypin plan --reuse-key api.myapp.test")));
  });

  it("--ios-identities ca pins the CA keys only, asks for no backup, and ATS gets CA identities", async () => {
    const out = join(tmp.dir, "ca.json");
    const result = await runCli(
      ["init", "api.myapp.test", "--ios-identities", "ca", "--out", out, ...route()],
      { keepStdinOpen: true },
    );
    assert.equal(result.code, 0, result.stderr);
    const pins = (JSON.parse(readFileSync(out, "utf8")) as PolicyJson).domains["api.myapp.test"]!.pins;
    assert.deepEqual(
      pins.map((p) => [p.role, p.pin]),
      [
        ["intermediate", opensslPinOfCertificate(intermediate.cert)],
        ["root", opensslPinOfCertificate(root.cert)],
      ],
    );
    assert.match(result.stdout, /no backup key of your own/);
    assert.match(result.stdout, /no --reuse-key/);
    await exportAll(out);
    const refused = await runCli([
      "init",
      "api.myapp.test",
      "--ios-identities",
      "ca",
      "--backup",
      backupCsr,
      "--out",
      join(tmp.dir, "ca2.json"),
      ...route(),
    ]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--ios-identities ca pins CA keys only.*leave out --backup/);
  });

  it("platforms that accept any one pin get leaf + CA + backup", async () => {
    const out = join(tmp.dir, "android.json");
    const result = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      backupCsr,
      "--out",
      out,
      ...route(),
      "--platforms",
      "android-nsc,okhttp-kotlin",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const pins = (JSON.parse(readFileSync(out, "utf8")) as PolicyJson).domains["api.myapp.test"]!.pins;
    assert.deepEqual(
      pins.map((p) => p.role),
      ["leaf", "intermediate", "backup"],
    );
  });

  it("refuses, writing nothing, what a chosen platform cannot express, and names the fix", async () => {
    const out = join(tmp.dir, "subdomains.json");
    const result = await runCli([
      "init",
      "api.myapp.test",
      "--include-subdomains",
      "--backup",
      backupCsr,
      "--out",
      out,
      ...route(),
    ]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /\(ios-ats\) cannot express it exactly: \/domains\/api\.myapp\.test\/includeSubdomains: NSIncludesSubdomains covers one more label only/,
    );
    assert.match(result.stderr, /TrustKit \(trustkit\) carries such a policy exactly/);
    assert.match(
      result.stderr,
      /--platforms android-nsc,trustkit,okhttp-kotlin,okhttp-java,react-native,node/,
    );
    assert.equal(existsSync(out), false);
    const without = await runCli([
      "init",
      "api.myapp.test",
      "--include-subdomains",
      "--backup",
      backupCsr,
      "--out",
      out,
      ...route(),
      "--platforms",
      "android-nsc,trustkit,okhttp-kotlin,okhttp-java,react-native,node",
    ]);
    assert.equal(without.code, 0, without.stderr);
  });

  it("refuses unknown platforms and --ios-identities without ios-ats (exit 2)", async () => {
    const bad = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      backupCsr,
      "--platforms",
      "android-nsc,windows",
      ...route(),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown platform "windows"; the platforms are android-nsc, ios-ats, trustkit/);
    const choice = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      backupCsr,
      "--platforms",
      "android-nsc",
      "--ios-identities",
      "leaf",
      ...route(),
    ]);
    assert.equal(choice.code, 2);
    assert.match(choice.stderr, /--ios-identities leaf is about ios-ats, which is not in --platforms/);
    const value = await runCli([
      "init",
      "api.myapp.test",
      "--backup",
      backupCsr,
      "--ios-identities",
      "both",
      ...route(),
    ]);
    assert.equal(value.code, 2);
  });
});
