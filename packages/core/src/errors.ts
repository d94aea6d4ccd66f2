/**
 * The base class of every error keypin throws. Match on `code`, never on the message.
 *
 * @example
 * try { parsePin(input) } catch (e) { if (e instanceof KeypinError && e.code === "ERR_KEYPIN_PIN_FORMAT") … }
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
