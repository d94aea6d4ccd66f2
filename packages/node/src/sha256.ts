import * as crypto from "node:crypto";
import type { Sha256 } from "@keypin/core";

// `crypto.hash` (Node 20.12+) hashes in one call, without the Hash object that `createHash` builds: on a
// ~300-byte SPKI it takes about 70% of the time, and it runs once per certificate of every handshake.
// Node 20.0–20.11 lack it and use `createHash`. Asked for "base64", node:crypto also encodes in C++ and
// returns a string: less than half the time of returning a Buffer (each Buffer made in C++ costs more than
// the hash of a small key) and no base64 to write in JavaScript. Core uses that form for pins.
const oneShot = (
  crypto as {
    hash?: (algorithm: string, data: Uint8Array, encoding: "buffer" | "base64") => Buffer | string;
  }
).hash;

const bytes: (data: Uint8Array) => Uint8Array =
  typeof oneShot === "function"
    ? (data) => oneShot("sha256", data, "buffer") as Buffer
    : (data) => crypto.createHash("sha256").update(data).digest();

const base64: (data: Uint8Array) => string =
  typeof oneShot === "function"
    ? (data) => oneShot("sha256", data, "base64") as string
    : (data) => crypto.createHash("sha256").update(data).digest("base64");

/**
 * SHA-256 through `node:crypto`, in the shape `@keypin/core` expects for its injected hash: call it for the
 * 32 digest bytes; `computePin` uses its `base64` form, which node:crypto encodes natively.
 *
 * @example
 * import { computePin } from "@keypin/core";
 * import { sha256 } from "@keypin/node";
 * const pin = computePin(spkiDer, sha256); // "sha256/…"
 */
export const sha256: Sha256 = Object.assign(bytes, { base64 });
