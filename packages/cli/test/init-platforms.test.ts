import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import plist from "@expo/plist";
import { parsePolicy } from "@keypin/core";
import { exportFormats, exportPolicy } from "@keypin/export";
import { opensslPinOfCertificate, runCli } from "@keypin/testkit";
import { useInitServer } from "./init-fixture.js";

const b64 = (pin: string) => pin.slice("sha256/".length);

describe("keypin init --platforms and --ios-identities", () => {
  const fx = useInitServer("Platforms", "ec-p256");

  /** Every format's export of `policy` (stdout and stderr), each exit 0. */
  const exportAll = async (policy: string) => {
    const outputs: Record<string, string> = {};
    for (const format of exportFormats) {
      const r = await runCli(["export", "--policy", policy, "--format", format]);
      assert.equal(r.code, 0, `${format}: ${r.stderr}`);
      outputs[format] = `${r.stdout}\n--- stderr\n${r.stderr}`;
    }
    return outputs;
  };

  it("by default fits every format: leaf + backup (ATS leaf identities), says why and how to renew, and records that renewals keep the key", async () => {
    const out = join(fx.tmp.dir, "default.json");
    const result = await fx.initWithBackup(["--out", out]);
    assert.equal(result.code, 0, result.stderr);
    const written = fx.readPolicy(out).domains["api.myapp.test"]!;
    assert.deepEqual(written.renewal, { reuseKey: true });
    const pins = written.pins;
    assert.deepEqual(
      pins.map((p) => [p.role, p.pin]),
      [
        ["leaf", opensslPinOfCertificate(fx.leaf.cert)],
        ["backup", fx.backupPin],
      ],
    );
    assert.ok(
      result.stdout.includes(`${exportFormats.join(", ")}: each one writes this policy exactly`),
      "every export format, in the registry's order",
    );
    assert.match(result.stdout, /requires a match in each category/);
    assert.match(result.stdout, /the default \(--ios-identities leaf\)/);
    assert.match(result.stdout, /Pass --ios-identities ca/);
    assert.match(result.stdout, /certbot renew --reuse-key/);
    assert.match(
      result.stdout,
      /The policy records it: "renewal": \{ "reuseKey": true \} for api\.myapp\.test\. keypin plan reads it/,
    );
    // The README's next commands now work for every format, ios-ats included. "renewal" is no pin-set
    // property: every exporter ignores it silently (the same output, no note, no loss, with or without it).
    await exportAll(out);
    const { renewal: _, ...bare } = written;
    const withIt = parsePolicy(fx.readPolicy(out)).policy;
    const withoutIt = parsePolicy({ domains: { "api.myapp.test": bare } }).policy;
    for (const format of exportFormats) {
      assert.deepEqual(
        exportPolicy(withIt, format, { source: "keypin.json" }),
        exportPolicy(withoutIt, format, { source: "keypin.json" }),
        format,
      );
    }
    const ats = await runCli(["export", "--policy", out, "--format", "ios-ats"]);
    const entry = plist.default.parse(ats.stdout).NSAppTransportSecurity.NSPinnedDomains["api.myapp.test"];
    assert.deepEqual(
      entry.NSPinnedLeafIdentities.map((i: Record<string, string>) => i["SPKI-SHA256-BASE64"]),
      pins.map((p) => b64(p.pin)),
    );
    assert.equal(entry.NSPinnedCAIdentities, undefined);
  });

  it("--json records the choice: platforms, the pin shape, iOS identities and the renewal advice", async () => {
    const out = join(fx.tmp.dir, "json.json");
    const result = await fx.initWithBackup([
      "--out",
      out,
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
    assert.ok(printed.pinSet.renewals.some((r) => r.includes('"renewal": { "reuseKey": true }')));
    assert.deepEqual(fx.readPolicy(out).domains["api.myapp.test"]!.renewal, { reuseKey: true });
  });

  it("keypin plan and check read the recorded renewal on their own; without it, check --platforms ios-ats flags the leaf identities", async () => {
    const out = join(fx.tmp.dir, "watched.json");
    assert.equal((await fx.initWithBackup(["--out", out, "--platforms", "ios-ats"])).code, 0);
    const plan = await runCli(["plan", "--policy", out, ...fx.route(), "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const host = (
      JSON.parse(plan.stdout) as {
        hosts: {
          reuseKey: boolean;
          reuseKeyFrom?: string;
          pins: { role?: string; changesAt?: string }[];
          findings: { code: string; message: string }[];
        }[];
      }
    ).hosts[0]!;
    assert.equal(host.reuseKey, true);
    assert.equal(host.reuseKeyFrom, "policy");
    assert.equal(host.pins.find((p) => p.role === "leaf")?.changesAt, undefined);
    assert.match(
      host.findings.find((f) => f.code === "reuse-key")?.message ?? "",
      /keypin\.json: "renewal": \{ "reuseKey": true \}/,
    );
    const platformCodes = async (file: string) => {
      const check = await runCli([
        "check",
        "--policy",
        file,
        ...fx.route(),
        "--platforms",
        "ios-ats",
        "--json",
      ]);
      assert.equal(check.code, 0, check.stderr);
      return (JSON.parse(check.stdout) as { warnings: { code: string; platform?: string }[] }).warnings
        .filter((w) => w.platform)
        .map((w) => w.code);
    };
    assert.deepEqual(await platformCodes(out), []);
    // The same pins with the record taken out: the first renewal with a new key would lock iOS out.
    const policy = fx.readPolicy(out);
    delete policy.domains["api.myapp.test"]!.renewal;
    const bare = join(fx.tmp.dir, "unwatched.json");
    writeFileSync(bare, JSON.stringify(policy));
    assert.deepEqual(await platformCodes(bare), ["ats-leaf-renewal"]);
    const unwatched = await runCli(["plan", "--policy", bare, ...fx.route(), "--json"]);
    const leafPin = (
      JSON.parse(unwatched.stdout) as { hosts: { pins: { role?: string; changesAt?: string }[] }[] }
    ).hosts[0]!.pins.find((p) => p.role === "leaf");
    assert.ok(leafPin?.changesAt, "without the record, plan expects the renewal to change the leaf key");
  });

  it("--ios-identities ca pins the CA keys only, asks for no backup, and ATS gets CA identities", async () => {
    const out = join(fx.tmp.dir, "ca.json");
    const result = await fx.init(["--ios-identities", "ca", "--out", out], { keepStdinOpen: true });
    assert.equal(result.code, 0, result.stderr);
    const pins = fx.readPolicy(out).domains["api.myapp.test"]!.pins;
    assert.deepEqual(
      pins.map((p) => [p.role, p.pin]),
      [
        ["intermediate", opensslPinOfCertificate(fx.intermediate.cert)],
        ["root", opensslPinOfCertificate(fx.root.cert)],
      ],
    );
    assert.match(result.stdout, /no backup key of your own/);
    assert.match(result.stdout, /the policy has no "renewal": the leaf key is not pinned/);
    assert.equal(fx.readPolicy(out).domains["api.myapp.test"]!.renewal, undefined);
    await exportAll(out);
    const refused = await fx.init([
      "--ios-identities",
      "ca",
      "--backup",
      fx.backupCsr,
      "--out",
      join(fx.tmp.dir, "ca2.json"),
    ]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--ios-identities ca pins CA keys only.*leave out --backup/);
  });

  it("platforms that accept any one pin get leaf + CA + backup", async () => {
    const out = join(fx.tmp.dir, "android.json");
    const result = await fx.initWithBackup(["--out", out, "--platforms", "android-nsc,okhttp-kotlin"]);
    assert.equal(result.code, 0, result.stderr);
    const pins = fx.readPolicy(out).domains["api.myapp.test"]!.pins;
    assert.deepEqual(
      pins.map((p) => p.role),
      ["leaf", "intermediate", "backup"],
    );
    // The CA pin covers a renewal with a new key: init does not claim renewals keep it, but says how to.
    assert.equal(fx.readPolicy(out).domains["api.myapp.test"]!.renewal, undefined);
    assert.match(
      result.stdout,
      /say so in the policy with "renewal": \{ "reuseKey": true \} under api\.myapp\.test/,
    );
  });

  it("refuses, writing nothing, what a chosen platform cannot express, and names the fix", async () => {
    const out = join(fx.tmp.dir, "subdomains.json");
    const result = await fx.init(["--include-subdomains", "--backup", fx.backupCsr, "--out", out]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /\(ios-ats\) cannot express it exactly: \/domains\/api\.myapp\.test\/includeSubdomains: NSIncludesSubdomains covers one more label only/,
    );
    assert.match(result.stderr, /TrustKit \(trustkit\) carries such a policy exactly/);
    // Every format but ios-ats carries it: init names them for --platforms.
    const others = exportFormats.filter((f) => f !== "ios-ats").join(",");
    assert.ok(result.stderr.includes(`--platforms ${others}`), result.stderr);
    assert.equal(existsSync(out), false);
    const without = await fx.init([
      "--include-subdomains",
      "--backup",
      fx.backupCsr,
      "--out",
      out,
      "--platforms",
      others,
    ]);
    assert.equal(without.code, 0, without.stderr);
  });

  it("refuses unknown platforms and --ios-identities without ios-ats (exit 2)", async () => {
    const bad = await fx.initWithBackup(["--platforms", "android-nsc,windows"]);
    assert.equal(bad.code, 2);
    assert.ok(
      bad.stderr.includes(
        `unknown platform "windows"; the platforms are ${exportFormats.join(", ")} (comma-separated)`,
      ),
      bad.stderr,
    );
    const choice = await fx.initWithBackup(["--platforms", "android-nsc", "--ios-identities", "leaf"]);
    assert.equal(choice.code, 2);
    assert.match(choice.stderr, /--ios-identities leaf is about ios-ats, which is not in --platforms/);
    const value = await fx.initWithBackup(["--ios-identities", "both"]);
    assert.equal(value.code, 2);
  });
});
