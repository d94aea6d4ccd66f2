// Loads the keypin packages the way a user gets them (the built dist, from the run's installed-style
// snapshot: lib/snapshot.ts) and checks that the functions a target needs exist. The shapes below are the
// ones CONTRACTS.md promises; they are declared here so that the bench type-checks whatever stage the
// packages are at, and each target says "not measured" when a function has not landed yet.
import type { Agent as HttpsAgent } from "node:https";
import type { ConnectionOptions } from "node:tls";
import { pathToFileURL } from "node:url";
import type { Dispatcher } from "undici";
import { resolveIn } from "./snapshot.js";
import type { BenchContext } from "./types.js";

/** Core's injected hash: digest bytes, and optionally the digest's base64 in one call (core uses it for pins). */
export interface Sha256 {
  (data: Uint8Array): Uint8Array;
  base64?: (data: Uint8Array) => string;
}

export interface CoreApi {
  computePin(spki: Uint8Array, sha256: Sha256): string;
  parseCertificate(der: Uint8Array): { spki: Uint8Array; subject: string };
  /** The pin straight from certificate DER, without a full parse (added after the first API). */
  pinOfCertificate(der: Uint8Array, sha256: Sha256): string;
}

export interface PinningOptions {
  policy: unknown;
  ca?: string | string[];
  caOnly?: boolean;
  connect?: Record<string, unknown>;
  onWarning?: (message: string) => void;
  [option: string]: unknown;
}

export interface NodeApi {
  sha256: Sha256;
  createPinnedDispatcher(options: PinningOptions): Dispatcher;
  createPinnedAgent(options: PinningOptions): HttpsAgent;
  pinnedTlsOptions(options: PinningOptions): ConnectionOptions;
  buildVerifiedPath(served: Uint8Array[], anchors: Uint8Array[]): Uint8Array[] | undefined;
}

export interface Loaded<T> {
  api: Partial<T>;
  /** Names asked for that the built package does not export (or could not be loaded at all). */
  missing: (names: (keyof T & string)[]) => string[];
  loadError?: string;
}

/**
 * Imports a package from the run's snapshot. A package that does not load at all is a broken run
 * (the bench built it just before), so this throws; a function that is not exported yet is not.
 */
async function load<T>(modules: string, specifier: string): Promise<Loaded<T>> {
  const api = (await import(pathToFileURL(resolveIn(modules, specifier)).href)) as Partial<T>;
  return {
    api,
    missing: (names) => names.filter((n) => api[n] === undefined),
  };
}

export const loadCore = (ctx: BenchContext): Promise<Loaded<CoreApi>> =>
  load<CoreApi>(ctx.modules, "@keypin/core");
export const loadNode = (ctx: BenchContext): Promise<Loaded<NodeApi>> =>
  load<NodeApi>(ctx.modules, "@keypin/node");

/** "not measured" reason for missing exports, or undefined when everything is there. */
export function missingReason<T>(
  pkg: string,
  loaded: Loaded<T>,
  names: (keyof T & string)[],
): string | undefined {
  if (loaded.loadError) return loaded.loadError;
  const missing = loaded.missing(names);
  if (missing.length === 0) return undefined;
  return `${pkg} (built) does not export ${missing.join(", ")} yet`;
}
