import { KeypinError, type KeypinErrorCode } from "@keypin/core";
import { formatPlace } from "./place.js";
import type { Place } from "./types.js";

/**
 * A file that cannot be imported at all: not a format keypin reads, not well-formed, or not readable.
 * Code `ERR_KEYPIN_IMPORT`. The message is one line that starts with the place (`file:line`).
 *
 * @example
 * ```ts
 * try {
 *   importFile("res/xml/network_security_config.xml", text);
 * } catch (e) {
 *   if (e instanceof ImportError) console.error(e.message); // "…xml:7: not well-formed XML: …"
 * }
 * ```
 */
export class ImportError extends KeypinError {
  /** Where reading stopped. */
  readonly place: Place;

  constructor(place: Place, message: string, options?: { cause?: unknown }) {
    // ERR_KEYPIN_IMPORT (kind "input") joins core's catalogue; until it does, the cast keeps the code stable.
    super("ERR_KEYPIN_IMPORT" as KeypinErrorCode, `${formatPlace(place)}: ${message}`, options);
    this.place = place;
  }
}
