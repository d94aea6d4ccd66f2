// Peer and file text on the terminal (review cli-3, finding 6), run from the sources (source-bin.mjs). Before,
// a proxy's status line, an ARI document's explanationURL, a policy's host key and a file's name reached the
// terminal raw: ESC sequences could erase lines, move the cursor, color a fake "ok" and set the window title,
// and CR/LF could add lines. Every line the CLI prints now shows those characters escaped (`\x1b`).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type CliResult,
  createChain,
  makeTempDir,
  policyOf,
  runCli,
  type TestChain,
  unrelatedPin,
} from "@keypin/testkit";

const sourceBin = fileURLToPath(new URL("./source-bin.mjs", import.meta.url));
const tmp = makeTempDir("keypin-cli-terminal-text-");
after(() => tmp.remove());

const hostile = "\u001b[2K\u001b[1A\u001b[32mok: all pinned\u001b[0m \u001b]0;T\u0007\u0000\u009b\u202e";
/** `hostile` as a file name can hold it (no NUL). */
const hostileName = hostile.replace("\u0000", "");

function keypin(args: string[], env: Record<string, string | undefined> = {}) {
  return runCli(args, { bin: sourceBin, killAfterMs: 20_000, cwd: tmp.dir, env });
}

/** No control character but the line ends, and (with colors on) no escape sequence but a color. */
function assertTerminalSafe(run: CliResult): void {
  for (const [name, text] of [
    ["stdout", run.stdout],
    ["stderr", run.stderr],
  ] as const) {
    const withoutColors = text.replace(/\u001b\[[0-9]{1,3}m/g, "");
    assert.doesNotMatch(
      withoutColors,
      /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/,
      `${name} holds a raw control character: ${JSON.stringify(text)}`,
    );
    assert.ok(!text.includes("\u001b[32mok: all pinned"), `${name} shows the peer's fake green "ok"`);
  }
}

let chain: TestChain;
let policy: string;
let proxy: Server;
let proxyPort: number;

before(async () => {
  chain = await createChain("p256", ["api.test"], "terminal-text");
  policy = join(tmp.dir, "keypin.json");
  writeFileSync(policy, JSON.stringify(policyOf({ "api.test": [chain.leaf.pin, unrelatedPin()] })));
  // A proxy that refuses CONNECT with a status line full of terminal escapes.
  proxy = createServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => socket.end(`HTTP/1.1 407 ${hostile}\r\n\r\n`));
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  proxyPort = (proxy.address() as { port: number }).port;
});
after(() => proxy.close());

describe("peer and file text is escaped on every line the CLI prints", () => {
  it("a proxy's status line, in an error and in check's report, with colors off and on", async () => {
    const url = `http://127.0.0.1:${proxyPort}`;
    const inspect = await keypin(["inspect", "api.test", "--proxy", url, "--timeout", "5000"]);
    assert.equal(inspect.code, 1, inspect.stderr);
    assert.equal(inspect.stderr.trimEnd().split("\n").length, 1, inspect.stderr);
    assert.match(
      inspect.stderr,
      /407 \\x1b\[2K\\x1b\[1A\\x1b\[32mok: all pinned\\x1b\[0m \\x1b\]0;T\\x07\\x00/,
    );
    assertTerminalSafe(inspect);
    for (const env of [{}, { FORCE_COLOR: "1", NO_COLOR: undefined }]) {
      const check = await keypin(["check", "--policy", policy, "--proxy", url, "--timeout", "5000"], env);
      assert.equal(check.code, 1, check.stderr);
      assert.match(check.stdout, /\\x1b\[2K/);
      assertTerminalSafe(check);
    }
  });

  it("a policy's host key with an escape sequence, in the one error line", async () => {
    const file = join(tmp.dir, "ansihost.json");
    writeFileSync(
      file,
      JSON.stringify(policyOf({ [`cdn${hostile}.test`]: [chain.leaf.pin, unrelatedPin()] })),
    );
    const run = await keypin(["check", "--policy", file]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    assert.match(run.stderr, /cdn\\x1b\[2K/);
    assertTerminalSafe(run);
  });

  it("an ARI document's hostile explanationURL: not shown, on the terminal or in the calendar", async () => {
    const chainFile = join(tmp.dir, "chain.pem");
    writeFileSync(chainFile, chain.served);
    const ari = join(tmp.dir, "ari.json");
    const start = new Date(Date.now() + 10 * 86_400_000);
    writeFileSync(
      ari,
      JSON.stringify({
        suggestedWindow: {
          start: start.toISOString(),
          end: new Date(start.getTime() + 86_400_000).toISOString(),
        },
        explanationURL: `https://ca.example/x${hostile}\r\nBEGIN:VEVENT\r\nSUMMARY:injected`,
      }),
    );
    const ics = join(tmp.dir, "plan.ics");
    const run = await keypin([
      "plan",
      "--policy",
      policy,
      "--offline",
      "--chain",
      `api.test=${chainFile}`,
      "--ari",
      `api.test=${ari}`,
      "--ics",
      ics,
    ]);
    assert.ok(run.code === 0 || run.code === 1, run.stderr);
    assert.match(run.stdout, /\(its explanationURL was ignored: not an https URL as RFC 3986 writes it\)/);
    assert.ok(!run.stdout.includes("ca.example"));
    assertTerminalSafe(run);
    const calendar = readFileSync(ics, "utf8");
    assert.ok(!calendar.includes("injected"));
    for (const line of calendar.split("\r\n")) assert.doesNotMatch(line, /[\x00-\x08\x0a-\x1f\x7f]/);
  });

  it("a file name with escape sequences, in import's and export's lines on stderr", async () => {
    const name = `P${hostileName}.kt`;
    writeFileSync(
      join(tmp.dir, name),
      `val p = CertificatePinner.Builder().add("ok.example.com", "${chain.leaf.pin}", "${unrelatedPin()}").build()\n`,
    );
    const imported = await keypin(["import", "--out", "imported.json", name]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stderr, /^P\\x1b\[2K.*\.kt \(OkHttp\): 1 domain$/m);
    assertTerminalSafe(imported);
    const exported = await keypin([
      "export",
      "-f",
      "android-nsc",
      "--policy",
      "imported.json",
      "--out",
      `nsc${hostileName}.xml`,
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /wrote nsc\\x1b\[2K/);
    assertTerminalSafe(exported);
    execFileSync("rm", ["-f", join(tmp.dir, `nsc${hostileName}.xml`)]);
  });
});
