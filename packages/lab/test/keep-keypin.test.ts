// Spawns the built CLI: `keypin lab --keep` prints the keypin commands to try on its cast (the ones the
// README names); each one, copied from the narration and run in a folder of its own, does what its note says.
import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCli, spawnCli } from "@keypin/testkit";

/** Splits a command line as formatCommand writes it (words, or '…' with '\'' inside). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /'((?:[^']|'\\'')*)'|(\S+)/g;
  for (const match of line.matchAll(pattern)) {
    words.push(match[1] !== undefined ? match[1].replace(/'\\''/g, "'") : match[2]!);
  }
  return words;
}

describe("keypin lab --keep: the keypin commands it prints", () => {
  it("inspect, init, check and export work on the cast as printed; check through the proxy fails on the pins", {
    timeout: 60_000,
  }, async () => {
    const child = spawnCli(["lab", "--keep", "--scenario", "1"], { env: { NO_COLOR: "1" } });
    const exited = once(child, "close");
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const work = mkdtempSync(join(tmpdir(), "keypin-lab-try-"));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes("Press Ctrl-C to stop")) resolve();
        });
        child.once("close", () => reject(new Error(`keypin lab exited early: ${stderr}`)));
      });
      const commands = stdout
        .split("\n")
        .filter((line) => line.startsWith("    npx keypin "))
        .map((line) => {
          const [command, note] = line.trim().split("  # ");
          return { args: shellWords(command!).slice(2), note: note ?? "" };
        });
      assert.deepEqual(
        commands.map((c) => c.args[0]),
        ["inspect", "init", "check", "check", "export"],
      );
      const run = async (args: string[]) => {
        const result = await runCli(args, { cwd: work });
        return { ...result, all: result.stdout + result.stderr };
      };

      const [inspect, init, check, checkProxy, exportNsc] = commands;
      const inspected = await run(inspect!.args);
      assert.equal(inspected.code, 0, inspected.all);
      assert.match(inspected.stdout, /api\.myapp\.com:443: trusted/);
      // The lab's own files say which pins the cast's keys have: the backend's leaf must be among those shown.
      const keepDir = /Files in (\S+)\./.exec(stdout)?.[1] ?? /files {11}(\S+)/.exec(stdout)?.[1];
      assert.ok(
        keepDir && existsSync(join(keepDir, "keypin.json")),
        `the keep folder is printed: ${keepDir}`,
      );
      const labPolicy = JSON.parse(readFileSync(join(keepDir, "keypin.json"), "utf8"));
      const leaf = labPolicy.domains["api.myapp.com"].pins.find(
        (p: { role: string }) => p.role === "leaf",
      ).pin;
      assert.ok(inspected.stdout.includes(leaf), "inspect shows the backend's leaf pin");

      const initialised = await run(init!.args);
      assert.equal(initialised.code, 0, initialised.all);
      const policy = JSON.parse(readFileSync(join(work, "keypin.json"), "utf8"));
      assert.ok(
        policy.domains["api.myapp.com"].pins.some((p: { pin: string }) => p.pin === leaf),
        "init pinned the cast's real leaf key",
      );
      assert.ok(existsSync(join(work, "lab-backup")), "and made the backup key where it said");

      const checked = await run(check!.args);
      assert.equal(checked.code, 0, checked.all);
      assert.match(checked.stdout, /ok {2}api\.myapp\.com:443/);
      assert.match(check!.note, /^ok/);

      const intercepted = await run(checkProxy!.args);
      assert.equal(intercepted.code, 1, intercepted.all);
      assert.match(intercepted.stdout, /pin-mismatch {2}api\.myapp\.com:443/);
      assert.match(checkProxy!.note, /^pin-mismatch, exit 1/);

      const exported = await run(exportNsc!.args);
      assert.equal(exported.code, 0, exported.all);
      for (const p of policy.domains["api.myapp.com"].pins as { pin: string }[]) {
        assert.ok(
          exported.stdout.includes(`<pin digest="SHA-256">${p.pin.slice("sha256/".length)}</pin>`),
          exported.stdout,
        );
      }
    } finally {
      child.kill("SIGINT");
      const [code] = (await exited) as [number | null];
      rmSync(work, { recursive: true, force: true });
      assert.equal(code, 0, stderr);
    }
  });
});
