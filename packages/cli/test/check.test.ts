import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
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
  startForgingProxy,
  startHttpsServer,
  unusedPort,
} from "@keypin/testkit";

interface HostJson {
  host: string;
  port: number;
  status: string;
  enforced: boolean;
  matchedPin?: string;
  servedPins: string[];
  verifiedPins: string[];
  warnings: { code: string; message: string }[];
}
interface CheckJson {
  ok: boolean;
  warnings: { code: string; message: string }[];
  hosts: HostJson[];
}

describe("keypin check", () => {
  const tmp = makeTempDir();
  let root: Issued;
  let intermediate: Issued;
  let leaf: Issued;
  let server: RunningServer;
  let backupPin: string;
  let leafPin: string;
  let intermediatePin: string;
  let rootPin: string;
  const policy = (name: string, domains: Record<string, unknown>) => {
    const path = join(tmp.dir, name);
    writeFileSync(path, JSON.stringify({ domains }, null, 2));
    return path;
  };
  const route = () => ["--connect-to", `::127.0.0.1:${server.port}`, "--ca", root.certPath];

  before(async () => {
    root = makeCa(tmp.dir, "root", "/O=Keypin Test/CN=Check Root");
    intermediate = makeCa(tmp.dir, "intermediate", "/O=Keypin Test/CN=Check Issuing CA", { issuer: root });
    leaf = makeLeaf(tmp.dir, "leaf", ["api.myapp.test", "cdn.myapp.test", "other.test"], intermediate);
    server = await startHttpsServer({
      key: leaf.key,
      cert: `${leaf.cert}${intermediate.cert}`,
      handler: answerHello,
    });
    const backupKey = generateKeyFile(join(tmp.dir, "backup.key"), "ec-p256");
    backupPin = opensslPinOfPublicKey(openssl(["pkey", "-in", backupKey, "-pubout"]));
    leafPin = opensslPinOfCertificate(leaf.cert);
    intermediatePin = opensslPinOfCertificate(intermediate.cert);
    rootPin = opensslPinOfCertificate(root.cert);
  });

  after(async () => {
    await server.close();
    tmp.remove();
  });

  it("--platforms lints the policy by those platforms' rules, naming the platform; without it nothing changes", async () => {
    const file = policy("platforms.json", {
      "api.myapp.test": {
        includeSubdomains: true,
        pins: [
          { pin: intermediatePin, role: "intermediate" },
          { pin: backupPin, role: "backup" },
        ],
      },
    });
    const plain = await runCli(["check", "--policy", file, ...route(), "--json"]);
    assert.equal(plain.code, 0, plain.stderr);
    const platformCodes = (json: CheckJson) =>
      json.warnings.flatMap((w) =>
        (w as { platform?: string }).platform ? [`${(w as { platform?: string }).platform} ${w.code}`] : [],
      );
    assert.deepEqual(platformCodes(JSON.parse(plain.stdout) as CheckJson), []);
    const linted = await runCli([
      "check",
      "--policy",
      file,
      ...route(),
      "--platforms",
      "ios-ats,okhttp-java",
      "--json",
    ]);
    assert.equal(linted.code, 0, linted.stderr);
    assert.deepEqual(platformCodes(JSON.parse(linted.stdout) as CheckJson), [
      "ios-ats ats-one-label",
      "ios-ats ats-and-rule",
      "okhttp-java okhttp3-subdomains",
    ]);
    const text = await runCli(["check", "--policy", file, ...route(), "--platforms", "ios-ats", "--strict"]);
    assert.equal(text.code, 1, "--strict fails on the platform warnings");
    assert.match(text.stdout, /\[ios-ats ats-one-label\]/);
    const bad = await runCli(["check", "--policy", file, ...route(), "--platforms", "windows-phone"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown platform "windows-phone"/);
  });

  it("passes when the verified chain carries a pinned key, naming the pin that matched", async () => {
    const file = policy("good.json", {
      "api.myapp.test": {
        pins: [
          { pin: leafPin, role: "leaf" },
          { pin: intermediatePin, role: "intermediate" },
          { pin: backupPin, role: "backup" },
        ],
      },
    });
    const result = await runCli(["check", "--policy", file, ...route(), "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as CheckJson;
    assert.equal(report.ok, true);
    assert.equal(report.hosts.length, 1);
    const host = report.hosts[0]!;
    assert.equal(host.host, "api.myapp.test");
    assert.equal(host.status, "ok");
    assert.equal(host.enforced, true);
    assert.ok(host.matchedPin === leafPin || host.matchedPin === intermediatePin);
    assert.deepEqual(host.servedPins, [leafPin, intermediatePin]);
    assert.deepEqual(host.verifiedPins, [leafPin, intermediatePin, rootPin]);
  });

  it("fails with pin-mismatch through an intercepting proxy whose CA is trusted with --ca", async () => {
    const file = policy("mitm.json", {
      "api.myapp.test": { pins: [intermediatePin, { pin: backupPin, role: "backup" }] },
    });
    // The interceptor's CA and the leaves it forges, made by the openssl CLI.
    const mitm = join(tmp.dir, "proxy", "mitm");
    const proxyCa = makeCa(mitm, "mitm-ca", "/O=Intercepting Proxy/CN=Intercepting Proxy CA");
    let forgedLeaves = 0;
    const proxy = await startForgingProxy({
      forge: (name) => {
        const leaf = makeLeaf(mitm, `forged-${forgedLeaves++}`, [name], proxyCa, { days: 30 });
        return { key: leaf.key, cert: `${leaf.cert}${proxyCa.cert}` };
      },
      upstream: { ca: root.cert, address: () => ({ host: "127.0.0.1", port: server.port }) },
    });
    try {
      const result = await runCli([
        "check",
        "--policy",
        file,
        "--proxy",
        `http://127.0.0.1:${proxy.port}`,
        "--ca",
        root.certPath,
        "--ca",
        proxyCa.certPath,
        "--json",
      ]);
      assert.equal(result.code, 1, result.stderr);
      const report = JSON.parse(result.stdout) as CheckJson;
      assert.equal(report.ok, false);
      const host = report.hosts[0]!;
      assert.equal(host.status, "pin-mismatch");
      assert.equal(host.enforced, true);
      assert.ok(
        proxy.forged.includes("api.myapp.test"),
        `the proxy forged a certificate: ${proxy.forged.join()}`,
      );
      assert.equal(host.servedPins.length, 2);
      assert.ok(!host.servedPins.includes(intermediatePin));
      assert.equal(host.verifiedPins.at(-1), opensslPinOfCertificate(proxyCa.cert));
      assert.match(result.stderr, /^keypin: check failed: api\.myapp\.test:443 pin-mismatch\n$/);
      // Without the proxy's CA the device would not even trust the forged chain.
      const untrusted = await runCli([
        "check",
        "--policy",
        file,
        "--proxy",
        `http://127.0.0.1:${proxy.port}`,
        "--ca",
        root.certPath,
        "--json",
      ]);
      assert.equal(untrusted.code, 1);
      assert.equal((JSON.parse(untrusted.stdout) as CheckJson).hosts[0]!.status, "untrusted");
    } finally {
      await proxy.close();
    }
  });

  it("marks a report-only mismatch as enforced: false and still fails", async () => {
    const file = policy("report-only.json", {
      "api.myapp.test": {
        mode: "report-only",
        pins: [backupPin, { pin: backupPin.replace(/^sha256\/./, "sha256/A"), role: "backup" }],
      },
    });
    const result = await runCli(["check", "--policy", file, ...route(), "--json"]);
    assert.equal(result.code, 1, result.stderr);
    const host = (JSON.parse(result.stdout) as CheckJson).hosts[0]!;
    assert.equal(host.status, "pin-mismatch");
    assert.equal(host.enforced, false);
  });

  it("checks extra --host names with the policy that covers them, and reports uncovered hosts as not-pinned", async () => {
    const file = policy("subdomains.json", {
      "myapp.test": {
        includeSubdomains: true,
        pins: [
          { pin: rootPin, role: "root" },
          { pin: intermediatePin, role: "intermediate" },
          { pin: backupPin, role: "backup" },
        ],
      },
    });
    const result = await runCli([
      "check",
      "--policy",
      file,
      "--host",
      "api.myapp.test",
      "--host",
      "cdn.myapp.test",
      "--host",
      "other.test",
      ...route(),
      "--json",
      "--concurrency",
      "2",
    ]);
    const report = JSON.parse(result.stdout) as CheckJson;
    const status = Object.fromEntries(report.hosts.map((h) => [h.host, h.status]));
    // myapp.test itself is not among the leaf's names: a device would refuse it.
    assert.deepEqual(status, {
      "myapp.test": "untrusted",
      "api.myapp.test": "ok",
      "cdn.myapp.test": "ok",
      "other.test": "not-pinned",
    });
    assert.equal(result.code, 1, "an untrusted host fails the check");
    const covered = await runCli([
      "check",
      "--policy",
      policy("covered.json", {
        "api.myapp.test": { pins: [intermediatePin, { pin: backupPin, role: "backup" }] },
      }),
      "--host",
      "other.test",
      ...route(),
      "--json",
    ]);
    assert.equal(covered.code, 0, covered.stderr);
    const strict = await runCli([
      "check",
      "--policy",
      join(tmp.dir, "covered.json"),
      "--host",
      "other.test",
      ...route(),
      "--json",
      "--strict",
    ]);
    assert.equal(strict.code, 1, "--strict fails on a host that is not pinned");
    assert.equal((JSON.parse(strict.stdout) as CheckJson).ok, false);
  });

  it("checks a policy name given with --host NAME:PORT on that port instead of 443, as init's Next: line says", async () => {
    const file = policy("ported.json", {
      "api.myapp.test": { pins: [intermediatePin, { pin: backupPin, role: "backup" }] },
    });
    const port = String(server.port);
    // Only api.myapp.test:PORT reaches the server: api.myapp.test:443 would not resolve.
    const only = ["--connect-to", `api.myapp.test:${port}:127.0.0.1:${port}`, "--ca", root.certPath];
    const result = await runCli([
      "check",
      "--policy",
      file,
      "--host",
      `api.myapp.test:${port}`,
      ...only,
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as CheckJson;
    assert.deepEqual(
      report.hosts.map((h) => [h.host, h.status]),
      [["api.myapp.test", "ok"]],
    );
  });

  it("lints a backup that is in the live chain, a leaf-only pin set and a missing backup; --strict fails on them", async () => {
    const file = policy("lint.json", {
      "api.myapp.test": {
        pins: [
          { pin: leafPin, role: "leaf" },
          { pin: intermediatePin, role: "backup" },
        ],
      },
      "cdn.myapp.test": { pins: [leafPin, rootPin.replace(/^sha256\/./, "sha256/B")] },
    });
    const result = await runCli(["check", "--policy", file, ...route(), "--json"]);
    assert.equal(result.code, 0, `lint alone does not fail without --strict: ${result.stderr}`);
    const report = JSON.parse(result.stdout) as CheckJson;
    const api = report.hosts.find((h) => h.host === "api.myapp.test")!;
    const codes = api.warnings.map((w) => w.code);
    assert.ok(codes.includes("backup-in-live-chain"), codes.join());
    assert.ok(codes.includes("will-not-survive-renewal"), codes.join());
    assert.ok(
      report.warnings.some((w) => w.code === "no-backup-pin"),
      JSON.stringify(report.warnings),
    );
    const strict = await runCli(["check", "--policy", file, ...route(), "--json", "--strict"]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /--strict/);
  });

  it("reports a host that cannot be reached as error and exits 1", async () => {
    const file = policy("down.json", {
      "api.myapp.test": { pins: [intermediatePin, { pin: backupPin, role: "backup" }] },
    });
    const port = await unusedPort();
    const result = await runCli(["check", "--policy", file, "--connect-to", `::127.0.0.1:${port}`, "--json"]);
    assert.equal(result.code, 1);
    const host = (JSON.parse(result.stdout) as CheckJson).hosts[0]!;
    assert.equal(host.status, "error");
  });

  it("says a chain that verifies for another name does not match the name, without a stray dot", async () => {
    const file = policy("wrong-name.json", {
      "wrong.myapp.test": { pins: [intermediatePin, { pin: backupPin, role: "backup" }] },
    });
    const result = await runCli(["check", "--policy", file, ...route(), "--json"]);
    assert.equal(result.code, 1, result.stderr);
    const host = (JSON.parse(result.stdout) as CheckJson).hosts[0]! as HostJson & { reason?: string };
    assert.equal(host.status, "untrusted");
    assert.match(
      host.reason ?? "",
      /^the certificate is not valid for wrong\.myapp\.test: its names are DNS:api\.myapp\.test/,
    );
    assert.doesNotMatch(host.reason ?? "", /wrong\.myapp\.test\. /);
  });

  it("counts one pin as one pin in a mismatch's reason", async () => {
    const file = policy("one-pin.json", { "api.myapp.test": { pins: [{ pin: backupPin, role: "backup" }] } });
    const result = await runCli(["check", "--policy", file, ...route(), "--json"]);
    assert.equal(result.code, 1, result.stderr);
    const host = (JSON.parse(result.stdout) as CheckJson).hosts[0]! as HostJson & { reason?: string };
    assert.equal(host.status, "pin-mismatch");
    assert.equal(host.reason, "the one pin of api.myapp.test is not in the verified chain");
  });

  it("shows progress and colors on a terminal", async () => {
    const file = policy("tty.json", {
      "api.myapp.test": { pins: [intermediatePin, { pin: backupPin, role: "backup" }] },
    });
    const result = await runCliOnTerminal(["check", "--policy", file, ...route()], "never asked", "");
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /checking 1\/1/);
    assert.ok(result.output.includes("\u001b[32mok\u001b[39m"), "ok is green on a terminal");
  });

  it("prints an aligned human summary", async () => {
    const file = policy("human.json", {
      "api.myapp.test": { pins: [intermediatePin, { pin: backupPin, role: "backup" }] },
      "cdn.myapp.test": { pins: [intermediatePin, { pin: backupPin, role: "backup" }] },
    });
    const result = await runCli(["check", "--policy", file, ...route()]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    const rows = lines.filter((l) => /^ {2}ok /.test(l));
    assert.equal(rows.length, 2, result.stdout);
    assert.equal(rows[0]!.indexOf("matched"), rows[1]!.indexOf("matched"));
    assert.match(result.stdout, /passed: 2 ok/);
  });
});
