// Loads the keypin packages the way a user gets them (the built dist, through the workspace's
// node_modules links) and checks that the functions a target needs exist. The shapes below are the
// ones CONTRACTS.md promises; they are declared here so that the bench type-checks whatever stage the
// packages are at, and each target says "not measured" when a function has not landed yet.
import type { Agent as HttpsAgent } from "node:https";
import type { ConnectionOptions } from "node:tls";
import type { Dispatcher } from "undici";

export type Sha256 = (data: Uint8Array) => Uint8Array;

export interface CoreApi {
  computePin(spki: Uint8Array, sha256: Sha256): string;
  parseCertificate(der: Uint8Array): { spki: Uint8Array; subject: string };
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

async function load<T>(specifier: string): Promise<Loaded<T>> {
  try {
    const api = (await import(specifier)) as Partial<T>;
    return {
      api,
      missing: (names) => names.filter((n) => api[n] === undefined),
    };
  } catch (error) {
    const loadError = `${specifier} could not be loaded: ${(error as Error).message.split("\n")[0]}`;
    return { api: {}, missing: (names) => names, loadError };
  }
}

export const loadCore = (): Promise<Loaded<CoreApi>> => load<CoreApi>("@keypin/core");
export const loadNode = (): Promise<Loaded<NodeApi>> => load<NodeApi>("@keypin/node");

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
