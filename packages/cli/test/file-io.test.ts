// How the CLI reads its inputs and writes its outputs (review cli-3, findings 3 to 5), run from the sources
// (source-bin.mjs). Before: every input was read whole with no size cap and no file-type check, so
// `keypin hash /dev/zero` grew by hundreds of MB a second and `check --policy FIFO` waited for ever; an output
// path that was (or linked to) an input overwrote it, so `export --out keypin.json` destroyed the policy; and
// outputs were truncated then written in place, so a write that failed part-way left half a file.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  linkSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type CliResult,
  cliEnv,
  createChain,
  makeTempDir,
  policyOf,
  runCli,
  type TestChain,
  unrelatedPin,
} from "@keypin/testkit";

const sourceBin = fileURLToPath(new URL("./source-bin.mjs", import.meta.url));
const tmp = makeTempDir("keypin-cli-file-io-");
after(() => tmp.remove());

let chain: TestChain;
let count = 0;
/** A fresh directory with a valid keypin.json for api.test and the chain api.test serves. */
function workspace(): { dir: string; policy: string; chainFile: string; ca: string } {
  const dir = join(tmp.dir, `w${count++}`);
  execFileSync("mkdir", ["-p", dir]);
  const policy = join(dir, "keypin.json");
  writeFileSync(
    policy,
    `${JSON.stringify(policyOf({ "api.test": [chain.leaf.pin, unrelatedPin()] }), null, 2)}\n`,
  );
  const chainFile = join(dir, "chain.pem");
  writeFileSync(chainFile, chain.served);
  const ca = join(dir, "ca.pem");
  writeFileSync(ca, chain.root.pem);
  return { dir, policy, chainFile, ca };
}

function keypin(args: string[], options: { cwd?: string; input?: string | Uint8Array } = {}) {
  return runCli(args, { bin: sourceBin, killAfterMs: 20_000, ...options });
}

/** Exit 2 with one `keypin:` line on stderr matching `pattern`, nothing on stdout, and no kill by the timeout. */
function assertRefused(run: CliResult, pattern: RegExp): void {
  assert.equal(run.signal, null, `killed while still running (stderr: ${run.stderr.slice(0, 300)})`);
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^keypin: /);
  assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
  assert.match(run.stderr, pattern);
}

before(async () => {
  chain = await createChain("p256", ["api.test"], "file-io");
});

describe("every file input is a regular file of at most 16 MiB (or stdin, capped the same)", () => {
  it("refuses /dev/zero as any input, at once, with one line", async () => {
    const w = workspace();
    for (const args of [
      ["hash", "/dev/zero"],
      ["hash", "--passphrase-file", "/dev/zero", w.chainFile],
      ["check", "--policy", "/dev/zero"],
      ["check", "--policy", w.policy, "--ca", "/dev/zero"],
      ["export", "-f", "node", "--policy", "/dev/zero"],
      ["export", "-f", "android-nsc", "--policy", w.policy, "--debug-proxy-ca", "/dev/zero"],
      ["import", "--check", "/dev/zero"],
      ["plan", "--policy", w.policy, "--offline", "--chain", "api.test=/dev/zero"],
      [
        "plan",
        "--policy",
        w.policy,
        "--offline",
        "--chain",
        `api.test=${w.chainFile}`,
        "--ari",
        "api.test=/dev/zero",
      ],
      ["audit", "--ca-dir", join(w.dir, "ca"), "--upstream-ca", "/dev/zero", "--duration", "1"],
      ["audit", "--ca-dir", join(w.dir, "ca"), "--policy", "/dev/zero", "--duration", "1"],
    ]) {
      const run = await keypin(args, { cwd: w.dir });
      assertRefused(run, /\/dev\/zero: is a character device, not a regular file/);
      assert.ok(run.ms < 10_000, `${args.join(" ")}: ${run.ms} ms`);
    }
  });

  it("refuses a FIFO nobody writes to instead of waiting for a writer", async () => {
    const w = workspace();
    const fifo = join(w.dir, "policy.fifo");
    execFileSync("mkfifo", [fifo]);
    for (const args of [
      ["check", "--policy", fifo],
      ["export", "-f", "node", "--policy", fifo],
      ["hash", fifo],
      ["import", "--check", fifo],
      ["plan", "--policy", w.policy, "--offline", "--chain", `api.test=${fifo}`],
    ]) {
      assertRefused(
        await keypin(args, { cwd: w.dir }),
        /policy\.fifo: is a FIFO \(named pipe\), not a regular file/,
      );
    }
  });

  it("refuses a regular file or stdin above 16 MiB, and reads one at the cap", async () => {
    const w = workspace();
    const big = join(w.dir, "big.pem");
    writeFileSync(big, chain.leaf.pem);
    truncateSync(big, 16 * 1024 * 1024 + 1);
    assertRefused(
      await keypin(["hash", big]),
      /big\.pem: is larger than 16 MiB, the most keypin reads from one input/,
    );
    assertRefused(await keypin(["check", "--policy", big]), /larger than 16 MiB/);
    const input = Buffer.alloc(16 * 1024 * 1024 + 1, 0x41);
    assertRefused(await keypin(["hash", "-"], { input }), /^keypin: stdin: is larger than 16 MiB/);
    // At the cap: read whole, then refused for what it holds, not for its size.
    const atCap = Buffer.alloc(16 * 1024 * 1024, 0x0a);
    Buffer.from(chain.leaf.pem).copy(atCap);
    const run = await keypin(["hash", "--json", "-"], { input: atCap });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { pin: string }[])[0]!.pin, chain.leaf.pin);
  });

  it("still reads regular files, through a symbolic link too", async () => {
    const w = workspace();
    symlinkSync(w.chainFile, join(w.dir, "link.pem"));
    const run = await keypin(["hash", "--json", join(w.dir, "link.pem")]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { pin: string }[])[0]!.pin, chain.leaf.pin);
    const exported = await keypin(["export", "-f", "node", "--policy", w.policy]);
    assert.equal(exported.code, 0, exported.stderr);
  });
});

describe("an output that is, or points to, an input of the command is refused, and nothing is written", () => {
  it("export --out the policy itself, a symbolic link to it, or a hard link to it", async () => {
    const w = workspace();
    const before = readFileSync(w.policy);
    symlinkSync("keypin.json", join(w.dir, "nsc.xml"));
    linkSync(w.policy, join(w.dir, "hard.xml"));
    for (const [format, out] of [
      ["node", "keypin.json"],
      ["android-nsc", "nsc.xml"],
      ["android-nsc", "hard.xml"],
      ["android-nsc", join(w.dir, "..", `w${count - 1}`, "keypin.json")],
    ] as const) {
      const run = await keypin(["export", "-f", format, "--out", out], { cwd: w.dir });
      assertRefused(
        run,
        /is (the same file as keypin\.json, )?an input of this command: writing it would destroy that input, so nothing was written/,
      );
      assert.deepEqual(readFileSync(w.policy), before, `${out}: the policy is intact`);
    }
    assert.ok(lstatSync(join(w.dir, "nsc.xml")).isSymbolicLink());
    assert.deepEqual(readdirSync(w.dir).sort(), [
      "ca.pem",
      "chain.pem",
      "hard.xml",
      "keypin.json",
      "nsc.xml",
    ]);
  });

  it("export --out the --debug-proxy-ca file", async () => {
    const w = workspace();
    const before = readFileSync(w.ca);
    const run = await keypin(
      ["export", "-f", "android-nsc", "--debug-proxy-ca", "ca.pem", "--out", "ca.pem"],
      { cwd: w.dir },
    );
    assertRefused(run, /ca\.pem is an input of this command/);
    assert.deepEqual(readFileSync(w.ca), before);
  });

  it("import --merge still rewrites its keypin.json, but no --out over a file it imports", async () => {
    const w = workspace();
    const nsc = join(w.dir, "nsc.xml");
    assert.equal((await keypin(["export", "-f", "android-nsc", "--out", nsc], { cwd: w.dir })).code, 0);
    const merged = await keypin(["import", "--merge", "--out", "keypin.json", "nsc.xml"], { cwd: w.dir });
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stderr, /updated keypin\.json/);
    const xml = readFileSync(nsc);
    symlinkSync("nsc.xml", join(w.dir, "new.json"));
    const run = await keypin(["import", "--out", "new.json", "nsc.xml"], { cwd: w.dir });
    assert.equal(run.code, 2, run.stderr);
    assert.deepEqual(readFileSync(nsc), xml, "the imported file is intact");
  });

  it("audit --report over the policy or the audit CA's key, refused before the session starts", async () => {
    const w = workspace();
    const caDir = join(w.dir, "ca");
    const before = readFileSync(w.policy);
    const run = await keypin([
      "audit",
      "--ca-dir",
      caDir,
      "--policy",
      w.policy,
      "--report",
      w.policy,
      "--duration",
      "30",
      "--listen",
      "127.0.0.1:0",
    ]);
    assertRefused(run, /^keypin: --report .*keypin\.json is an input of this command/);
    assert.deepEqual(readFileSync(w.policy), before);
    // The CA was made by that run; its key is an input of the next one.
    const key = join(caDir, "keypin-audit-ca.key");
    const keyBefore = readFileSync(key);
    const again = await keypin([
      "audit",
      "--ca-dir",
      caDir,
      "--report",
      key,
      "--duration",
      "30",
      "--listen",
      "127.0.0.1:0",
    ]);
    assertRefused(again, /keypin-audit-ca\.key is an input of this command/);
    assert.deepEqual(readFileSync(key), keyBefore);
  });
});

describe("outputs are written whole or not at all", () => {
  it("a re-export that hits `ulimit -f` leaves the old file as it was, and no temporary file", async () => {
    const w = workspace();
    const out = join(w.dir, "nsc.xml");
    assert.equal((await keypin(["export", "-f", "android-nsc", "--out", out], { cwd: w.dir })).code, 0);
    const good = readFileSync(out);
    assert.ok(good.length > 1024, `${good.length} bytes: more than the limit below`);
    // Another policy, so the new file differs; SIGXFSZ ignored, so the write fails with EFBIG as on a full disk.
    writeFileSync(
      w.policy,
      `${JSON.stringify(policyOf({ "api.test": [chain.intermediate.pin, unrelatedPin()] }))}\n`,
    );
    const run = spawnSync(
      "bash",
      [
        "-c",
        `ulimit -f 1; trap '' XFSZ; exec "$0" "$@"`,
        process.execPath,
        sourceBin,
        "export",
        "-f",
        "android-nsc",
        "--out",
        out,
      ],
      { cwd: w.dir, env: cliEnv(), encoding: "utf8", timeout: 20_000 },
    );
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /nsc\.xml: file too large for this process's file size limit \(ulimit -f\)/);
    assert.deepEqual(readFileSync(out), good, "the old file is whole");
    assert.deepEqual(readdirSync(w.dir).sort(), ["ca.pem", "chain.pem", "keypin.json", "nsc.xml"]);
  });

  it("a rewrite keeps the file's permissions and a symbolic link, replacing the file it points to", async () => {
    const w = workspace();
    const real = join(w.dir, "real.xml");
    assert.equal((await keypin(["export", "-f", "android-nsc", "--out", real], { cwd: w.dir })).code, 0);
    assert.equal(statSync(real).mode & 0o777, 0o666 & ~process.umask());
    chmodSync(real, 0o640);
    symlinkSync("real.xml", join(w.dir, "link.xml"));
    writeFileSync(
      w.policy,
      `${JSON.stringify(policyOf({ "api.test": [chain.intermediate.pin, unrelatedPin()] }))}\n`,
    );
    const run = await keypin(["export", "-f", "android-nsc", "--out", "link.xml"], { cwd: w.dir });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(lstatSync(join(w.dir, "link.xml")).isSymbolicLink(), "the link stays a link");
    assert.match(
      readFileSync(real, "utf8"),
      new RegExp(chain.intermediate.pin.slice(7, 30).replace(/[+/]/g, "\\$&")),
    );
    assert.equal(statSync(real).mode & 0o777, 0o640);
  });
});
