import { createHash } from "node:crypto";
import type { Sha256 } from "@keypin/core";

/**
 * SHA-256 through `node:crypto`, in the shape `@keypin/core` expects for its injected hash.
 *
 * @example
 * import { computePin } from "@keypin/core";
 * import { sha256 } from "@keypin/node";
 * const pin = computePin(spkiDer, sha256); // "sha256/…"
 */
export const sha256: Sha256 = (data: Uint8Array): Uint8Array =>
  new Uint8Array(createHash("sha256").update(data).digest());
