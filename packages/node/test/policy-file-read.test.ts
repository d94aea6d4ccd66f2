// How loadPolicyFile reads the file (review cli-3, finding 3): it read whatever the path named, whole. A FIFO
// blocked it for ever, /dev/zero grew the process by hundreds of MB a second, and a huge file was read into
// memory before any check. Now the path must name a regular file of at most 16 MiB, refused otherwise with
// the loader's typed error (PolicyFileError, ERR_KEYPIN_POLICY), before a byte is read.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadPolicyFile, PolicyFileError } from "@keypin/node";
import { makeTempDir } from "@keypin/testkit";
import { loadPolicyFileSync } from "../src/policy-file.js";

const temp = makeTempDir("keypin-policy-read-");
after(() => temp.remove());

const PIN_A = `sha256/${Buffer.alloc(32, 1).toString("base64")}`;
const PIN_B = `sha256/${Buffer.alloc(32, 2).toString("base64")}`;
const policyText = `${JSON.stringify({ domains: { "api.example.com": { pins: [PIN_A, PIN_B] } } })}\n`;

/** Settles within `ms`, or fails the test (the old loader never settled on a FIFO). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still reading after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function assertReadRefusal(error: unknown, file: string, pattern: RegExp): void {
  assert.ok(error instanceof PolicyFileError, `a PolicyFileError, got ${String(error)}`);
  assert.equal(error.code, "ERR_KEYPIN_POLICY");
  assert.equal(error.file, file);
  assert.match(error.problems[0]!.message, /^cannot read the file: /);
  assert.match(error.problems[0]!.message, pattern);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected loadPolicyFile to refuse the file");
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected loadPolicyFileSync to refuse the file");
}

describe("loadPolicyFile reads only a regular file of at most 16 MiB", () => {
  test("a regular policy file still loads, async and sync", async () => {
    const file = join(temp.dir, "keypin.json");
    writeFileSync(file, policyText);
    assert.equal((await loadPolicyFile(file)).policy.domains[0]!.domain, "api.example.com");
    assert.equal(loadPolicyFileSync(file).policy.domains[0]!.domain, "api.example.com");
  });

  test("a FIFO nobody writes to is refused at once, not waited on", async () => {
    const fifo = join(temp.dir, "policy.fifo");
    execFileSync("mkfifo", [fifo]);
    try {
      assertReadRefusal(await within(3000, rejection(loadPolicyFile(fifo))), fifo, /FIFO/);
      assertReadRefusal(
        thrown(() => loadPolicyFileSync(fifo)),
        fifo,
        /FIFO/,
      );
    } finally {
      // Frees a reader that the old loader left blocked in open(2), so this file's process can end.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {}
    }
  });

  test("/dev/zero is refused before a byte is read", async () => {
    const before = process.memoryUsage().rss;
    assertReadRefusal(await within(3000, rejection(loadPolicyFile("/dev/zero"))), "/dev/zero", /device/);
    assertReadRefusal(
      thrown(() => loadPolicyFileSync("/dev/zero")),
      "/dev/zero",
      /device/,
    );
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, "no memory was filled");
  });

  test("a directory is refused with the same typed error", async () => {
    assertReadRefusal(await rejection(loadPolicyFile(temp.dir)), temp.dir, /directory/);
    assertReadRefusal(
      thrown(() => loadPolicyFileSync(temp.dir)),
      temp.dir,
      /directory/,
    );
  });

  test("a regular file larger than 16 MiB is refused; one of exactly 16 MiB is read", async () => {
    const big = join(temp.dir, "big.json");
    writeFileSync(big, policyText);
    truncateSync(big, 16 * 1024 * 1024 + 1);
    assertReadRefusal(await rejection(loadPolicyFile(big)), big, /larger than 16 MiB/);
    assertReadRefusal(
      thrown(() => loadPolicyFileSync(big)),
      big,
      /larger than 16 MiB/,
    );
    // At the cap the file is read and parsed: its NUL padding is then a JSON problem, not a read refusal.
    truncateSync(big, 16 * 1024 * 1024);
    const error = await rejection(loadPolicyFile(big));
    assert.ok(error instanceof PolicyFileError);
    assert.doesNotMatch(error.problems[0]!.message, /cannot read the file/);
  });

  test("a missing file is still the loader's read error", async () => {
    const missing = join(temp.dir, "missing.json");
    assertReadRefusal(await rejection(loadPolicyFile(missing)), missing, /ENOENT/);
  });
});
