import type { PolicyProblem } from "./types.js";

/**
 * The base class of every error keypin throws. Match on `code`, never on the message.
 *
 * @example
 * ```ts
 * try {
 *   parsePin(input);
 * } catch (e) {
 *   if (e instanceof KeypinError && e.code === "ERR_KEYPIN_PIN_FORMAT") console.error(e.message);
 * }
 * ```
 */
export class KeypinError extends Error {
  /** A stable identifier such as `ERR_KEYPIN_PARSE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
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
