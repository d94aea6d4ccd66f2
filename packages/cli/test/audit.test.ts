// keypin audit, the built bin: a real proxy process, curl through it to a genuine HTTPS server on 127.0.0.1, the
// report at Ctrl-C (SIGINT), exit codes 0/1/2, the onboarding page, and no secret or CA key in any output.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createChain,
  curl,
  isListening,
  makeTempDir,
  opensslPinOfCertificate,
  policyOf,
  runCli,
  runCliOnTerminal,
  spawnCli,
  startHttpsServer,
  type TempDir,
  type TestChain,
  type TestServer,
  unusedPort,
} from "@keypin/testkit";

const TOKEN = "Bearer cli-audit-secret-4242";
let genuine: TestChain;
let server: TestServer;
let tmp: TempDir;
let publicRoot: string;

before(async () => {
  genuine = await createChain("p256", ["localhost", "127.0.0.1"], "genuine");
  server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  tmp = makeTempDir("keypin-cli-audit-");
  publicRoot = join(tmp.dir, "public-root.pem");
  writeFileSync(publicRoot, genuine.root.pem);
});

after(async () => {
  await server.close();
  tmp.remove();
});

/** Runs `keypin audit` until `exercise` is done, then Ctrl-C; returns its exit code and output. */
async function audit(args: string[], exercise: (proxy: string, caFile: string) => Promise<void>) {
  const port = await unusedPort();
  const caDir = join(tmp.dir, "ca");
  const child = spawnCli([
    "audit",
    "--listen",
    `127.0.0.1:${port}`,
    "--ca-dir",
    caDir,
    "--upstream-ca",
    publicRoot,
    ...args,
  ]);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  let certExistedWhenListening = false;
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      if (stderr.includes("proxy on")) {
        certExistedWhenListening = existsSync(join(caDir, "keypin-audit-ca.pem"));
        resolve();
      }
    });
    child.on("close", () => reject(new Error(`audit exited early: ${stderr}`)));
  });
  const caFile = join(tmp.dir, "trusts-audit.pem");
  writeFileSync(caFile, genuine.root.pem + readFileSync(join(caDir, "keypin-audit-ca.pem"), "utf8"));
  await exercise(`http://127.0.0.1:${port}`, caFile);
  child.kill("SIGINT");
  const code = await exited;
  const key = readFileSync(join(caDir, "keypin-audit-ca.key"), "utf8");
  return { code, stdout, stderr, certExistedWhenListening, key, caDir };
}

describe("keypin audit (the bin)", () => {
  test("an unpinned control on 127.0.0.1 and curl --pinnedpubkey on localhost: localhost pinned, exit 0; no secret, no key in the output", async () => {
    const pin = opensslPinOfCertificate(genuine.leaf.pem).slice(7);
    const codes: (number | null)[] = [];
    const run = await audit(["--json", "--expect-pinned", "localhost"], async (proxy, caFile) => {
      const base = ["--proxy", proxy, "--cacert", caFile, "-H", `Authorization: ${TOKEN}`];
      codes.push((await curl([...base, `https://127.0.0.1:${server.port}/?token=${TOKEN.slice(7)}`])).code);
      codes.push(
        (await curl([...base, "--pinnedpubkey", `sha256//${pin}`, `https://localhost:${server.port}/`])).code,
      );
    });
    assert.deepEqual(codes, [0, 90]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.certExistedWhenListening, true);
    const report = JSON.parse(run.stdout);
    assert.equal(report.test, "MASTG-TEST-0244");
    assert.deepEqual(report.interceptedDomains, ["127.0.0.1"]);
    const verdicts = Object.fromEntries(
      report.verdicts.map((v: { host: string; verdict: string }) => [v.host, v.verdict]),
    );
    assert.deepEqual(verdicts, { "127.0.0.1": "intercepted", localhost: "pinned" });
    assert.equal(report.upstreamPins[0].pins[0].pin, opensslPinOfCertificate(genuine.leaf.pem));
    const all = run.stdout + run.stderr;
    assert.ok(!all.includes("cli-audit-secret"), "the token (header and query) is masked");
    for (const line of run.key.split("\n").filter((l) => l.length > 20))
      assert.ok(!all.includes(line), "CA key printed");
  });

  test("--show-secrets shows the Authorization value; a host expected pinned but intercepted exits 1", async () => {
    const run = await audit(
      ["--json", "--show-secrets", "--expect-pinned", "127.0.0.1,localhost"],
      async (proxy, caFile) => {
        await curl([
          "--proxy",
          proxy,
          "--cacert",
          caFile,
          "-H",
          `Authorization: ${TOKEN}`,
          `https://127.0.0.1:${server.port}/`,
        ]);
      },
    );
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout);
    assert.equal(
      report.verdicts.find((v: { host: string }) => v.host === "127.0.0.1").evidence.requests[0].secrets
        .authorization,
      TOKEN,
    );
    assert.deepEqual(report.expectation.failing, [
      { host: "127.0.0.1", verdict: "intercepted" },
      { host: "localhost", verdict: "not-seen" },
    ]);
    assert.match(run.stderr, /not proven pinned: 127\.0\.0\.1 \(intercepted\), localhost \(not-seen\)/);
  });

  test("the onboarding page through the proxy serves the CA as PEM and DER (as openssl converts it) and the steps", async () => {
    const got: Record<string, Buffer> = {};
    const run = await audit([], async (proxy) => {
      for (const path of ["/", "/keypin-audit-ca.pem", "/keypin-audit-ca.crt"]) {
        const out = spawnSync("curl", ["--silent", "--proxy", proxy, `http://keypin.audit${path}`]);
        got[path] = out.stdout;
      }
    });
    const pemFile = join(run.caDir, "keypin-audit-ca.pem");
    assert.equal(got["/keypin-audit-ca.pem"]!.toString(), readFileSync(pemFile, "utf8"));
    const der = spawnSync("openssl", ["x509", "-in", pemFile, "-outform", "DER"]).stdout;
    assert.ok(got["/keypin-audit-ca.crt"]!.equals(der));
    assert.match(got["/"]!.toString(), /Certificate Trust Settings/);
    assert.match(got["/"]!.toString(), /overridePins/);
    assert.ok(!got["/"]!.toString().includes(run.key.split("\n")[1]!));
  });

  test("an SNI name with newlines and escapes cannot print a line of its own: the control host is reported, the forged line is not", async () => {
    const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);
    /** A ClientHello whose SNI name is any bytes, as an attacker writes it (a TLS library would refuse the name). */
    const hello = (sni: Buffer): Buffer => {
      const name = Buffer.concat([Buffer.from([0]), u16(sni.length), sni]);
      const list = Buffer.concat([u16(name.length), name]);
      const ext = Buffer.concat([u16(0), u16(list.length), list]);
      const exts = Buffer.concat([u16(ext.length), ext]);
      const body = Buffer.concat([
        u16(0x0303),
        Buffer.alloc(32, 7),
        Buffer.from([0]),
        u16(2),
        u16(0x1301),
        Buffer.from([1, 0]),
        exts,
      ]);
      const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
      return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
    };
    const forged = "x\x1b[2K\r\napi.bank.test pinned: The client refused the forged certificate.\x1b[8m";
    const run = await audit(["--expect-pinned", "api.bank.test"], async (proxy, caFile) => {
      // The control: curl, trusting the audit CA, is intercepted on 127.0.0.1 and reported as such.
      assert.equal(
        (await curl(["--proxy", proxy, "--cacert", caFile, `https://127.0.0.1:${server.port}/`])).code,
        0,
      );
      for (const sni of ["evil.test", forged]) {
        const s = connect(Number(new URL(proxy).port), "127.0.0.1");
        s.on("error", () => {});
        s.write("CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n");
        await once(s, "data");
        s.write(hello(Buffer.from(sni, "latin1")));
        await once(s, "close");
      }
    });
    assert.equal(run.code, 1, "api.bank.test is not seen");
    assert.match(run.stdout, /^127\.0\.0\.1\s+intercepted/m);
    assert.match(run.stdout, /^evil\.test\s+/m, "the well-formed SNI name is a host");
    assert.ok(
      !/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(run.stdout + run.stderr),
      "no control character but newlines",
    );
    assert.ok(!/^api\.bank\.test\s+pinned/m.test(run.stdout), `no forged line:\n${run.stdout}`);
    assert.match(run.stdout, /^api\.bank\.test not-seen:/m);
  });

  test("--expect-pinned, --policy and --hosts hosts outside --name-constraints exit 2 naming them, before any CA is made; a host inside starts the audit", async () => {
    const policyFile = join(tmp.dir, "nc-policy.json");
    writeFileSync(
      policyFile,
      JSON.stringify(
        policyOf({
          "api.audit.test": [
            opensslPinOfCertificate(genuine.leaf.pem),
            opensslPinOfCertificate(genuine.root.pem),
          ],
          "audit.test": [
            opensslPinOfCertificate(genuine.leaf.pem),
            opensslPinOfCertificate(genuine.root.pem),
          ],
        }),
      ),
    );
    for (const [args, named] of [
      [
        ["--expect-pinned", "audit.test,api.audit.test"],
        /^--expect-pinned audit\.test is outside --name-constraints \*\.audit\.test: /,
      ],
      [
        ["--expect-pinned", "www.bank.test", "--expect-pinned", "10.0.2.2"],
        /www\.bank\.test, 10\.0\.2\.2 are outside/,
      ],
      [["--policy", policyFile], /^--policy .*nc-policy\.json: audit\.test is outside/],
      [
        ["--hosts", "api.audit.test,cdn.other.test"],
        /^--hosts cdn\.other\.test is outside --name-constraints/,
      ],
    ] as const) {
      const caDir = join(tmp.dir, "ca-nc-refused");
      const r = await runCli([
        "audit",
        "--listen",
        "127.0.0.1:0",
        "--ca-dir",
        caDir,
        "--name-constraints",
        "*.audit.test",
        ...args,
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr.replace(/^keypin: (error: )?/, ""), named);
      assert.match(r.stderr, /add (it|them) to --name-constraints/);
      assert.equal(existsSync(join(caDir, "keypin-audit-ca.pem")), false, "no CA made for a refused run");
    }
    // The control: the same options with the host inside the constraints start the proxy (and, not seen, exit 1).
    const run = await audit(
      ["--name-constraints", "*.audit.test", "--expect-pinned", "api.audit.test"],
      async () => {},
    );
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^api\.audit\.test not-seen:/m);
  });

  test("--policy with includeSubdomains: a covered subdomain intercepted exits 1 naming it; the text says what was not kept and that pinned is an inference", async () => {
    const policyFile = join(tmp.dir, "subdomains-policy.json");
    const pins = [opensslPinOfCertificate(genuine.leaf.pem), opensslPinOfCertificate(genuine.root.pem)];
    writeFileSync(policyFile, JSON.stringify(policyOf({ "myapp.test": { pins, includeSubdomains: true } })));
    const pin = opensslPinOfCertificate(genuine.leaf.pem).slice(7);
    const run = await audit(["--policy", policyFile], async (proxy, caFile) => {
      // The same curl: its token to api.myapp.test (covered by myapp.test), and a pin on myapp.test itself. No
      // DNS answers these names: the request is seen before the proxy dials the real server.
      const base = ["--proxy", proxy, "--cacert", caFile, "-H", `Authorization: ${TOKEN}`];
      await curl([...base, `https://api.myapp.test:${server.port}/`]);
      const pinned = await curl([
        ...base,
        "--pinnedpubkey",
        `sha256//${pin}`,
        `https://myapp.test:${server.port}/`,
      ]);
      assert.equal(pinned.code, 90, pinned.stderr);
      // A client that sends no ClientHello: unjudged, and said so.
      const socket = connect(Number(new URL(proxy).port), "127.0.0.1");
      socket.on("error", () => {});
      socket.write("CONNECT junk.test:443 HTTP/1.1\r\nHost: junk.test:443\r\n\r\n");
      await once(socket, "data");
      socket.end("not a ClientHello\r\n");
      await once(socket, "close");
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^api\.myapp\.test intercepted:/m);
    assert.match(run.stdout, /^myapp\.test pinned:/m);
    assert.match(run.stderr, /not proven pinned: api\.myapp\.test \(intercepted\)/);
    assert.match(run.stdout, /^not kept: 1 tunnel unjudged/m);
    assert.match(run.stdout, /^pinned \(inferred\) is an inference.*--hosts.*--audit-ca/m);
    assert.ok(!(run.stdout + run.stderr).includes("cli-audit-secret"), "the token is masked");
  });

  test("usage errors exit 2 with one line", async () => {
    for (const args of [
      ["--duration", "soon"],
      ["--listen", "nowhere"],
      ["--policy", join(tmp.dir, "missing.json")],
    ]) {
      const r = await runCli(["audit", "--ca-dir", join(tmp.dir, "ca2"), ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.equal(r.stdout, "");
    }
  });

  test("on a terminal, the live table is redrawn as each tunnel closes; the report follows at --duration's end", async () => {
    const port = await unusedPort();
    const caDir = join(tmp.dir, "ca-tty");
    const args = [
      "audit",
      "--listen",
      `127.0.0.1:${port}`,
      "--ca-dir",
      caDir,
      "--upstream-ca",
      publicRoot,
      "--duration",
      "6",
    ];
    const running = runCliOnTerminal(args, "no prompt in audit", "");
    for (let i = 0; i < 400 && !(await isListening(port)); i++) await new Promise((r) => setTimeout(r, 50));
    const caFile = join(tmp.dir, "trusts-audit-tty.pem");
    writeFileSync(caFile, genuine.root.pem + readFileSync(join(caDir, "keypin-audit-ca.pem"), "utf8"));
    assert.equal(
      (
        await curl([
          "--proxy",
          `http://127.0.0.1:${port}`,
          "--cacert",
          caFile,
          `https://127.0.0.1:${server.port}/`,
        ])
      ).code,
      0,
    );
    const { code, output } = await running;
    assert.equal(code, 0, output);
    const live = output.indexOf("\x1b[2J");
    assert.ok(live >= 0, "the screen is cleared for the live table");
    assert.match(output.slice(live), /HOST\s+VERDICT[\s\S]*127\.0\.0\.1\s+intercepted/);
    assert.match(output, /pins of 127\.0\.0\.1's real chain/);
  });
});
