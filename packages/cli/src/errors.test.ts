import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorCodes, KeypinError, type KeypinErrorCode } from "@keypin/core";
import { exitCodeOf, FailureError, UsageError } from "./errors.js";

// The exit code of every catalogue code, written out: a change of a code's kind that would change what the
// CLI exits with fails here. Before the catalogue, ERR_KEYPIN_HANDSHAKE and ERR_KEYPIN_CHECK_FAILED fell
// through to 2 (the CLI's own list lacked them); the commands that connect turned a handshake failure into
// exit 1 anyway (lib/connect.ts), and nothing in the CLI throws ERR_KEYPIN_CHECK_FAILED.
const expected: Record<KeypinErrorCode, 1 | 2> = {
  ERR_KEYPIN_PARSE: 2,
  ERR_KEYPIN_PIN_FORMAT: 2,
  ERR_KEYPIN_POLICY: 2,
  ERR_KEYPIN_PRIVATE_KEY: 2,
  ERR_KEYPIN_ENCRYPTED_KEY: 2,
  ERR_KEYPIN_BAD_PASSPHRASE: 2,
  ERR_KEYPIN_KEY_CIPHER: 2,
  ERR_KEYPIN_LOSSY_EXPORT: 2,
  ERR_KEYPIN_IMPORT: 2,
  ERR_KEYPIN_HASH: 2,
  ERR_KEYPIN_OPTIONS: 2,
  ERR_KEYPIN_EXPORT_OPTION: 2,
  ERR_KEYPIN_EXPO_OPTIONS: 2,
  ERR_KEYPIN_EXPO_CONFLICT: 2,
  ERR_KEYPIN_LAB_OPTIONS: 2,
  ERR_KEYPIN_LAB_SCENARIO: 2,
  ERR_KEYPIN_CONNECT: 1,
  ERR_KEYPIN_TIMEOUT: 1,
  ERR_KEYPIN_NOT_TLS: 1,
  ERR_KEYPIN_PROXY: 1,
  ERR_KEYPIN_HANDSHAKE: 1,
  ERR_KEYPIN_PIN_MISMATCH: 1,
  ERR_KEYPIN_UNTRUSTED_CHAIN: 1,
  ERR_KEYPIN_CHECK_FAILED: 1,
};

describe("exit codes", () => {
  it("derives each keypin error's exit code from its kind: 1 for network and verification, 2 for input and usage", () => {
    for (const code of Object.keys(errorCodes) as KeypinErrorCode[]) {
      assert.equal(exitCodeOf(new KeypinError(code, "m")), expected[code], code);
      // An error from another copy of keypin (the bundle has one per command) counts by its code alone.
      assert.equal(exitCodeOf(Object.assign(new Error("m"), { code })), expected[code], `${code}, plain`);
    }
  });

  it("exits 2 for a keypin code this version does not know, and 1 for any other error", () => {
    assert.equal(exitCodeOf(Object.assign(new Error("m"), { code: "ERR_KEYPIN_TLS" })), 2);
    assert.equal(exitCodeOf(Object.assign(new Error("m"), { code: "ERR_KEYPIN_FROM_THE_FUTURE" })), 2);
    assert.equal(exitCodeOf(Object.assign(new Error("m"), { code: "ENOENT" })), 1);
    assert.equal(exitCodeOf(new TypeError("bug")), 1);
    assert.equal(exitCodeOf("a string"), 1);
  });

  it("lets a CliError say its own exit code, whatever its cause", () => {
    const cause = new KeypinError("ERR_KEYPIN_TIMEOUT", "m");
    assert.equal(exitCodeOf(new UsageError("bad flag", { cause })), 2);
    assert.equal(
      exitCodeOf(new FailureError("host down", { cause: new KeypinError("ERR_KEYPIN_PARSE", "m") })),
      1,
    );
  });
});
