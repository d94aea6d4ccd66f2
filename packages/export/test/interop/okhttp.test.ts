// npm run test:interop: the okhttp-java and okhttp-kotlin outputs, compiled with javac and Debian's
// kotlinc against Debian's OkHttp 3.13, pin a real HTTPS connection: right pins pass, wrong pins fail
// before the request is sent. Missing tools fail these tests; they never skip.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import type { Server } from "node:https";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Policy, parsePolicy } from "@keypin/core";
import { exportPolicy } from "@keypin/export";
import { makePki, makeTempDir, type TestPki } from "@keypin/testkit";
import { javaDir, okhttpClasspath, requireTools, run, runHarness, startServer } from "./okhttp-harness.js";

const hosts = [
  "pinned.keypin.test",
  "ca.keypin.test",
  "wrong.keypin.test",
  "wild.keypin.test",
  "sub.wild.keypin.test",
  "unpinned.keypin.test",
];

function testPolicy(pki: TestPki): Policy {
  return parsePolicy({
    domains: {
      "pinned.keypin.test": {
        pins: [
          { pin: pki.leafPin, role: "leaf" },
          { pin: pki.otherPin, role: "backup" },
        ],
      },
      "ca.keypin.test": {
        pins: [
          { pin: pki.caPin, role: "root" },
          { pin: pki.otherPin, role: "backup" },
        ],
      },
      "wrong.keypin.test": { pins: [{ pin: pki.otherPin, role: "leaf" }] },
      "wild.keypin.test": { includeSubdomains: true, pins: [{ pin: pki.otherPin, role: "leaf" }] },
    },
  }).policy;
}

describe("OkHttp 3.13 runs the generated CertificatePinner", () => {
  const tmp = makeTempDir("keypin-okhttp-");
  let pki: TestPki;
  let server: Server;
  let port: number;
  let requests: string[];
  const url = (host: string) => `https://${host}:${port}/`;

  before(async () => {
    requireTools(["javac", "java", "kotlinc"], okhttpClasspath);
    pki = makePki(tmp.dir, hosts);
    ({ server, port, requests } = await startServer(pki));
  });
  after(() => {
    server?.close();
    tmp.remove();
  });

  function assertVerdicts(results: Map<string, string>): void {
    assert.match(results.get(url("pinned.keypin.test")) ?? "", /^OK 200 /, "the leaf pin matches");
    assert.match(
      results.get(url("ca.keypin.test")) ?? "",
      /^OK 200 /,
      "the CA pin matches the verified chain",
    );
    assert.match(
      results.get(url("unpinned.keypin.test")) ?? "",
      /^OK 200 /,
      "a host not in the policy is not pinned",
    );
    const wrong = results.get(url("wrong.keypin.test")) ?? "";
    assert.match(wrong, /^PINFAIL .*Certificate pinning failure/, "a wrong pin fails the call");
    assert.ok(wrong.includes(pki.leafPin), "OkHttp's message lists the served chain's pins");
    assert.match(
      results.get(url("wild.keypin.test")) ?? "",
      /^PINFAIL /,
      "the exact host entry pins wild.keypin.test",
    );
    // The header warns about this: OkHttp 3.x accepts **. and matches nothing.
    assert.match(
      results.get(url("sub.wild.keypin.test")) ?? "",
      /^OK 200 /,
      "on OkHttp 3.13 the **. pattern matches nothing, as the generated header warns",
    );
    assert.ok(
      !requests.some((h) => h.startsWith("wrong.keypin.test")),
      "no request reached the server on a pin failure",
    );
    assert.ok(
      !requests.some((h) => h.startsWith("wild.keypin.test")),
      "no request reached the server on a pin failure",
    );
  }

  it("compiles okhttp-java with javac and accepts the right pins and rejects wrong ones", async () => {
    const work = join(tmp.dir, "java");
    mkdirSync(work, { recursive: true });
    const { content } = exportPolicy(testPolicy(pki), "okhttp-java", { source: "keypin.json" });
    assert.match(content, /OkHttp 4\.3\.0 or later/);
    writeFileSync(join(work, "PinningConfig.java"), content);
    await run("javac", ["-cp", okhttpClasspath.join(":"), "-d", work, join(work, "PinningConfig.java")]);
    requests.length = 0;
    const results = await runHarness(
      work,
      "PinningConfig.certificatePinner()",
      [],
      pki.caPath,
      hosts.map(url),
    );
    assertVerdicts(results);
  });

  it("compiles okhttp-kotlin (with and without a package line) with Debian's kotlinc and pins the same way when run", async () => {
    const work = join(tmp.dir, "kotlin");
    mkdirSync(join(work, "src", "net"), { recursive: true });
    const { content } = exportPolicy(testPolicy(pki), "okhttp-kotlin", { source: "keypin.json" });
    writeFileSync(join(work, "src", "PinningConfig.kt"), content);
    const packaged = exportPolicy(testPolicy(pki), "okhttp-kotlin", { packageName: "com.myapp.net" }).content;
    writeFileSync(join(work, "src", "net", "PinningConfig.kt"), packaged);
    // One kotlinc run for both files: the JVM start-up of the 1.3 compiler is the slow part.
    await run(
      "kotlinc",
      [
        "-cp",
        okhttpClasspath.join(":"),
        "-d",
        work,
        join(work, "src", "PinningConfig.kt"),
        join(work, "src", "net", "PinningConfig.kt"),
      ],
      { timeout: 240_000 },
    );
    const { stdout } = await run("ls", [join(work, "com", "myapp", "net")]);
    assert.match(stdout, /PinningConfig\.class/, "the packaged object compiles into com/myapp/net");
    requests.length = 0;
    const stdlib = join(javaDir, "kotlin-stdlib.jar");
    const results = await runHarness(
      work,
      "PinningConfig.INSTANCE.getCertificatePinner()",
      [stdlib],
      pki.caPath,
      hosts.map(url),
    );
    assertVerdicts(results);
  });
});
