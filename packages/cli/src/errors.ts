import { errorKindOf, type KeypinErrorKind } from "@keypin/core";
import { printable } from "./lib/printable.js";

/**
 * The CLI's errors: each carries the exit code it ends the process with.
 * `main.ts` is the one place where they become a line on stderr and an exit code.
 */

/**
 * An error that ends the command with a chosen exit code and one line on stderr.
 *
 * @example
 * throw new CliError("policy.json: not found", 2);
 */
export class CliError extends Error {
  /** 1: the command ran and found a failure; 2: usage or input error. */
  readonly exitCode: 1 | 2;

  constructor(message: string, exitCode: 1 | 2, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
    Object.defineProperty(this, cliErrorBrand, { value: true });
  }
}

// The bundled CLI has one copy of this module per command file, so `instanceof` cannot be trusted
// across them: a registry-wide symbol marks CLI errors instead.
const cliErrorBrand = Symbol.for("keypin.cli-error");

/**
 * Whether `error` is a `CliError`, from this copy of the module or another one (bundles).
 *
 * @example
 * isCliError(new UsageError("x")); // true
 */
export function isCliError(error: unknown): error is CliError {
  return (
    typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[cliErrorBrand] === true
  );
}

/**
 * Exit 2: an unknown command or flag, an unreadable or invalid file, an invalid policy.
 * Nothing has been written to stdout when it is thrown.
 *
 * @example
 * throw new UsageError("unknown option --frobnicate for `keypin hash` (see `keypin help hash`)");
 */
export class UsageError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
  }
}

/**
 * Exit 1: the command ran and found a failure (pin mismatch, untrusted chain, unreachable host).
 *
 * @example
 * throw new FailureError("api.example.com:443: connection refused");
 */
export class FailureError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}

/**
 * The exit code of each kind of keypin error (core's catalogue, `errorCodes`): what the network or the
 * server did is a failure found (1); what keypin was given is a usage or input error (2); a fault of the
 * pin check itself is an unexpected failure (1).
 */
const exitCodeOfKind: Record<KeypinErrorKind, 1 | 2> = {
  input: 2,
  usage: 2,
  network: 1,
  verification: 1,
  internal: 1,
};

/**
 * The exit code an error ends the process with: a `CliError` says so itself; a `KeypinError`
 * (anything with a string `code` starting `ERR_KEYPIN_`, from any copy of keypin) gets the exit code of its
 * code's kind, and 2 for a code this version's catalogue does not know; anything else is an unexpected
 * failure (1).
 *
 * @example
 * exitCodeOf(new UsageError("bad flag")); // 2
 * exitCodeOf(new KeypinError("ERR_KEYPIN_TIMEOUT", "…")); // 1
 */
export function exitCodeOf(error: unknown): 1 | 2 {
  if (isCliError(error)) return error.exitCode;
  const code = codeOf(error);
  if (code?.startsWith("ERR_KEYPIN_")) {
    const kind = errorKindOf(code);
    return kind === undefined ? 2 : exitCodeOfKind[kind];
  }
  return 1;
}

/**
 * The `code` property of an error, when it has a string one (Node's `ENOENT`, keypin's `ERR_KEYPIN_…`).
 *
 * @example
 * codeOf(Object.assign(new Error("x"), { code: "ENOENT" })); // "ENOENT"
 */
export function codeOf(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * The error's message as a single line that is safe on a terminal: multi-line messages are joined with "; ",
 * and every control character left (ESC, BEL, NUL, a lone CR, C1) and every bidirectional control is shown
 * escaped (`printable`), since messages carry peer and file text: a proxy's status line, an ARI document, a
 * policy's host key. This is where every error the CLI prints ends.
 *
 * @example
 * oneLine(new Error("a\nb")); // "a; b"
 * oneLine(new Error("407 \x1b[2Kok")); // "407 \\x1b[2Kok"
 */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return printable(
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line.length > 0)
      .join("; "),
  );
}
