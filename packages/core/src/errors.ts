import type { KeypinErrorCode } from "./error-codes.js";
import type { PolicyProblem } from "./types.js";

// A registry-wide symbol, the same in every copy of this module (two versions of @keypin/core in one app,
// one bundle per CLI command, another realm), where `instanceof` only knows its own copy's class.
const keypinErrorBrand = Symbol.for("keypin.error");

/**
 * The base class of every error keypin throws. Match on `code` (one of {@link errorCodes}), never on the
 * message; {@link isKeypinError} recognizes it from any copy of this package.
 *
 * @example
 * ```ts
 * try {
 *   parsePin(input);
 * } catch (e) {
 *   if (isKeypinError(e) && e.code === "ERR_KEYPIN_PIN_FORMAT") console.error(e.message);
 * }
 * ```
 */
export class KeypinError extends Error {
  /** A stable identifier such as `ERR_KEYPIN_PARSE`: a key of {@link errorCodes}. */
  readonly code: KeypinErrorCode;

  constructor(code: KeypinErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    Object.defineProperty(this, keypinErrorBrand, { value: true });
  }
}

/**
 * Whether `value` is a {@link KeypinError} made by any copy of @keypin/core (where `instanceof KeypinError`
 * is true only for this copy's class). Its `code` may then be one this version's catalogue does not know.
 *
 * @example
 * ```ts
 * try {
 *   await fetch(url, { dispatcher });
 * } catch (e) {
 *   if (isKeypinError(e.cause)) console.error(e.cause.code); // "ERR_KEYPIN_PIN_MISMATCH"
 * }
 * ```
 */
export function isKeypinError(value: unknown): value is KeypinError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[keypinErrorBrand] === true
  );
}

/**
 * Malformed PEM or DER input. Code `ERR_KEYPIN_PARSE`. `offset` is where reading failed: the byte
 * offset in DER input, the character offset in PEM text for a malformed block (bad armor, bad base64),
 * or the byte offset inside a block's DER, in which case the message names the block and its line.
 *
 * @example
 * ```ts
 * try {
 *   parseCertificate(bytes);
 * } catch (e) {
 *   if (e instanceof KeypinParseError) console.error(`bad certificate at byte ${e.offset}: ${e.message}`);
 * }
 * ```
 */
export class KeypinParseError extends KeypinError {
  /** Where reading stopped: a byte offset into DER, or a character offset into PEM text. */
  readonly offset: number;

  constructor(message: string, offset: number, options?: { cause?: unknown }) {
    super("ERR_KEYPIN_PARSE", message, options);
    this.offset = offset;
  }
}

/**
 * A keypin policy that is not valid. `problems` lists every problem, each with the JSON Pointer of the
 * offending value. Code `ERR_KEYPIN_POLICY`.
 *
 * @example
 * ```ts
 * try {
 *   parsePolicy(json);
 * } catch (e) {
 *   if (e instanceof PolicyError) for (const p of e.problems) console.error(`${p.path}: ${p.message}`);
 * }
 * ```
 */
export class PolicyError extends KeypinError {
  /** Every problem found, in document order. */
  readonly problems: PolicyProblem[];

  constructor(problems: PolicyProblem[]) {
    const lines = problems.map((p) => `  ${p.path || "/"}: ${p.message}`);
    super(
      "ERR_KEYPIN_POLICY",
      `The keypin policy is not valid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${lines.join("\n")}`,
    );
    this.problems = problems;
  }
}

/** Throws a pin-format error. */
export function pinFormatError(input: string, why: string): KeypinError {
  const shown = input.length > 80 ? `${input.slice(0, 77)}...` : input;
  return new KeypinError(
    "ERR_KEYPIN_PIN_FORMAT",
    `Not a SHA-256 pin: ${JSON.stringify(shown)} ${why}. Expected "sha256/<base64 of 32 bytes>" (44 base64 characters ending in "="), 'pin-sha256="<base64>"' or the bare base64.`,
  );
}
