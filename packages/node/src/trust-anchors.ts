import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import { BoundedCache, KeypinError } from "@keypin/core";
import { certificatesOf, type DefaultTrust, readDefaultTrust } from "./node-trust.js";
import { AnchorSet } from "./verified-path.js";

/** The anchors a TLS connection trusts, and how to make OpenSSL trust exactly those. */
export interface TrustAnchors {
  anchors: AnchorSet;
  /** The `ca` certificates (PEM), one per entry. */
  extraCa: string[];
  /**
   * The certificates (PEM) to add back with the `ca` certificates (not with `caOnly`): adding a `ca` certificate to
   * a context gives it a fresh copy of Node's store, and on Node 20 that copy lacks the NODE_EXTRA_CA_CERTS
   * certificates. Empty on Node 22+, whose fresh copy keeps them.
   */
  environmentCa: string[];
  /**
   * When set, the context trusts exactly these (plus `extraCa`) instead of Node's default store: under
   * --use-openssl-ca, where keypin lists OpenSSL's store itself (see node-trust.ts).
   */
  exactCa: string[] | undefined;
  /** Only `extraCa` is trusted. */
  caOnly: boolean;
  /**
   * Why certificates Node may trust are not anchors here (keypin trusts less when it cannot know): each a
   * sentence, for the message of a chain that has no verified path. Empty when keypin's anchors are Node's.
   */
  limits: readonly string[];
}

/**
 * A secure context trusting exactly `trust`: Node's default store with the `ca` certificates added, an explicit
 * list (`exactCa`, under --use-openssl-ca), or only `ca`. Adding to the default store costs about a millisecond,
 * where `createSecureContext({ ca: [...roots, ...ca] })` re-parses every root (~20 ms for 144 roots on Node 20).
 */
export function createTrustContext(trust: TrustAnchors, options: SecureContextOptions = {}): SecureContext {
  if (trust.caOnly) return createSecureContext({ ...options, ca: trust.extraCa });
  if (trust.exactCa) return createSecureContext({ ...options, ca: [...trust.exactCa, ...trust.extraCa] });
  const context = createSecureContext({ ...options });
  if (trust.extraCa.length === 0) return context;
  const native = (context as unknown as { context: { addCACert(pem: string): void } }).context;
  for (const pem of [...trust.environmentCa, ...trust.extraCa]) native.addCACert(pem);
  return context;
}

/** Node's default trust as an AnchorSet, for the DefaultTrust it was built from. */
const defaultSets = new WeakMap<DefaultTrust, AnchorSet>();
/**
 * Anchor sets for `ca` lists already seen (keyed by their PEM text): parsing ~140 roots costs milliseconds. Bounded
 * in bytes too, per default trust (review F2): each set is weighed as if it held its own reading of every anchor
 * (10x the DER + 4 KiB, as parsed-certificate.ts weighs one; about 2.5 MiB for Node's ~140 roots) plus its key, so
 * 8 MiB keeps the last few `ca` lists and a list too large for the budget is read again each time.
 */
const composed = new WeakMap<DefaultTrust, BoundedCache<AnchorSet>>();
export const ANCHOR_SET_CACHE_BYTES = 8 * 1024 * 1024;

function anchorSetBytes(set: AnchorSet, key: string): number {
  let bytes = 2 * key.length;
  for (const der of set.ders) bytes += 10 * der.byteLength + 4096;
  return bytes;
}

/** @internal For keypin's own tests only: the composed anchor sets kept for Node's current default trust. */
export function anchorSetCacheStats(): { size: number; bytes: number; maxBytes: number } {
  const sets = composed.get(readDefaultTrust(() => {}));
  return { size: sets?.size ?? 0, bytes: sets?.bytes ?? 0, maxBytes: ANCHOR_SET_CACHE_BYTES };
}
/** Limits already told to each warning callback, so a process that builds many clients hears each once. */
const told = new WeakMap<(message: string) => void, Set<string>>();

function tellLimits(trust: DefaultTrust, warn: (message: string) => void): void {
  let seen = told.get(warn);
  if (!seen) {
    seen = new Set();
    told.set(warn, seen);
  }
  for (const limit of trust.limits) {
    if (seen.has(limit)) continue;
    seen.add(limit);
    warn(`keypin: ${limit} keypin refuses the chains that end at those certificates.`);
  }
}

/**
 * An object that stays the same while Node's default trust, as keypin reads it, is unchanged: a cache of secure
 * contexts keys on it (a `tls.setDefaultCACertificates` call, or new SSL_CERT_FILE under --use-openssl-ca,
 * gives a new one).
 */
export function defaultTrustVersion(): object {
  return readDefaultTrust(() => {});
}

/**
 * The anchors OpenSSL will use for these options: Node's default trust (the source that Node's own store is
 * built from, see node-trust.ts) + `ca`, or only `ca` with `caOnly`. Throws KeypinError `ERR_KEYPIN_OPTIONS` when `caOnly` comes without any certificate.
 */
export function resolveTrustAnchors(
  options: { ca?: string | readonly string[] | undefined; caOnly?: boolean | undefined },
  warn: (message: string) => void,
): TrustAnchors {
  const caTexts = options.ca === undefined ? [] : typeof options.ca === "string" ? [options.ca] : options.ca;
  const extra = { pems: [] as string[], ders: [] as Uint8Array[] };
  for (const text of caTexts) {
    const found = certificatesOf(text);
    if (found.ders.length === 0) {
      throw new KeypinError(
        "ERR_KEYPIN_OPTIONS",
        "Expected PEM certificates (-----BEGIN CERTIFICATE-----) in `ca` but found none in one of its entries.",
      );
    }
    extra.pems.push(...found.pems);
    extra.ders.push(...found.ders);
  }
  if (options.caOnly) {
    if (extra.ders.length === 0) {
      throw new KeypinError(
        "ERR_KEYPIN_OPTIONS",
        "`caOnly: true` trusts only the certificates in `ca`, but `ca` is empty: give the anchors in `ca`.",
      );
    }
    return {
      anchors: new AnchorSet(extra.ders),
      extraCa: extra.pems,
      environmentCa: [],
      exactCa: undefined,
      caOnly: true,
      limits: [],
    };
  }
  const base = readDefaultTrust(warn);
  tellLimits(base, warn);
  let baseSet = defaultSets.get(base);
  if (!baseSet) {
    baseSet = new AnchorSet(base.ders);
    defaultSets.set(base, baseSet);
  }
  const common = {
    environmentCa: base.addBackPems,
    exactCa: base.exactPems,
    caOnly: false,
    limits: base.limits,
  };
  if (extra.ders.length === 0) return { anchors: baseSet, extraCa: [], ...common };
  let sets = composed.get(base);
  if (!sets) {
    sets = new BoundedCache<AnchorSet>(32, { maxBytes: ANCHOR_SET_CACHE_BYTES, sizeOf: anchorSetBytes });
    composed.set(base, sets);
  }
  const key = extra.pems.join("");
  let anchors = sets.get(key);
  if (!anchors) {
    anchors = new AnchorSet([...base.ders, ...extra.ders]);
    sets.set(key, anchors);
  }
  return { anchors, extraCa: extra.pems, ...common };
}
