import * as crypto from "node:crypto";
import type { Sha256 } from "@keypin/core";

// `crypto.hash` (Node 20.12+) hashes in one call, without the Hash object that `createHash` builds: on a
// ~300-byte SPKI it takes about 70% of the time, and it runs once per certificate of every handshake.
// Node 20.0–20.11 lack it and use `createHash`. Both return a fresh Buffer (a Uint8Array), not a copy.
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: "buffer") => Buffer })
  .hash;

/**
 * SHA-256 through `node:crypto`, in the shape `@keypin/core` expects for its injected hash.
 *
 * @example
 * import { computePin } from "@keypin/core";
 * import { sha256 } from "@keypin/node";
 * const pin = computePin(spkiDer, sha256); // "sha256/…"
 */
export const sha256: Sha256 =
  typeof oneShot === "function"
    ? (data) => oneShot("sha256", data, "buffer")
    : (data) => crypto.createHash("sha256").update(data).digest();
