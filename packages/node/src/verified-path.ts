import { BoundedCache } from "./bounded-cache.js";
import { derKey, type ParsedCertificate, parseX509 } from "./parsed-certificate.js";

/** Longest path accepted, leaf and anchor included. Real chains have 2 to 4 certificates. */
export const MAX_PATH_LENGTH = 10;
/** Served certificates considered beyond the leaf; the rest are ignored. */
const MAX_SERVED = 16;
/** Hop checks allowed for one path search, so crafted cross-links cannot make it explode. */
const MAX_HOP_CHECKS = 256;

/**
 * Trust anchors prepared once: parsed, indexed by subject, and by exact bytes.
 * Build one per set of anchors and reuse it; building means parsing every certificate.
 */
export class AnchorSet {
  readonly ders: readonly Uint8Array[];
  readonly #byKey = new Map<string, ParsedCertificate>();
  readonly #bySubject = new Map<string, ParsedCertificate[]>();

  constructor(ders: readonly Uint8Array[]) {
    const kept: Uint8Array[] = [];
    for (const der of ders) {
      let anchor: ParsedCertificate;
      try {
        anchor = parseX509(der);
      } catch {
        continue; // not a certificate OpenSSL could use either
      }
      if (this.#byKey.has(anchor.key)) continue;
      this.#byKey.set(anchor.key, anchor);
      kept.push(anchor.der);
      const list = this.#bySubject.get(anchor.subjectName);
      if (list) list.push(anchor);
      else this.#bySubject.set(anchor.subjectName, [anchor]);
    }
    this.ders = kept;
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** True when these exact bytes are an anchor. */
  has(cert: ParsedCertificate): boolean {
    return this.#byKey.has(cert.key);
  }

  /** True when these exact DER bytes are an anchor. */
  hasDer(der: Uint8Array): boolean {
    return this.#byKey.has(derKey(der));
  }

  /** Anchors whose subject is `cert`'s issuer name (compared lowercased): the usual way to find the issuer. */
  namedIssuers(cert: ParsedCertificate): readonly ParsedCertificate[] {
    return this.#bySubject.get(cert.issuerName) ?? [];
  }

  /**
   * Anchors whose names differ from `cert`'s issuer name in our text form but which OpenSSL's canonical
   * comparison says could have issued it. Only consulted when nothing else leads to an anchor.
   */
  otherIssuers(cert: ParsedCertificate): ParsedCertificate[] {
    return [...this.#byKey.values()].filter(
      (anchor) => anchor.subjectName !== cert.issuerName && cert.x509.checkIssued(anchor.x509),
    );
  }
}

/**
 * Verdicts of single hops ("this issuer's key signed this child"), keyed by the exact bytes of both
 * certificates, so the same child presented with another issuer is verified again.
 */
export class HopCache {
  readonly #verdicts: BoundedCache<boolean>;
  /** Signature verifications actually performed (cache misses). */
  verifications = 0;
  /** Hops answered from the cache. */
  hits = 0;

  constructor(limit = 2048) {
    this.#verdicts = new BoundedCache(limit);
  }

  /** Whether `issuer` issued `child`: names/key identifiers consistent (as OpenSSL requires) AND signature valid. */
  check(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
    const key = `${child.key}\n${issuer.key}`;
    const cached = this.#verdicts.get(key);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    this.verifications++;
    let ok = false;
    try {
      ok = child.x509.checkIssued(issuer.x509) && child.x509.verify(issuer.x509.publicKey);
    } catch {
      ok = false; // an algorithm node:crypto cannot verify proves nothing
    }
    this.#verdicts.set(key, ok);
    return ok;
  }
}

const sharedHopCache = new HopCache();
const anchorSets = new WeakMap<readonly Uint8Array[], AnchorSet>();

function toAnchorSet(anchors: readonly Uint8Array[] | AnchorSet): AnchorSet {
  if (anchors instanceof AnchorSet) return anchors;
  let set = anchorSets.get(anchors);
  if (!set) {
    set = new AnchorSet(anchors);
    anchorSets.set(anchors, set);
  }
  return set;
}

/**
 * Builds the signature-verified path from the served leaf to a trust anchor: leaf first, anchor last (the anchor
 * may be a root the server did not send). Every hop is checked with `X509Certificate.verify(issuer.publicKey)`;
 * anchors are tried before served certificates (as OpenSSL does), no certificate appears twice, and the path has
 * at most 10 certificates. Served certificates that are not on the path are ignored. Returns `undefined` when no
 * such path exists. Validity dates, key usage and hostname are left to the TLS layer, which checked them first.
 *
 * @example
 * import { buildVerifiedPath } from "@keypin/node";
 * const path = buildVerifiedPath([leafDer, intermediateDer], [rootDer]);
 * // → [leafDer, intermediateDer, rootDer], or undefined if a signature does not verify
 */
export function buildVerifiedPath(
  served: readonly Uint8Array[],
  anchors: readonly Uint8Array[] | AnchorSet,
  options: { hopCache?: HopCache; maxLength?: number } = {},
): Uint8Array[] | undefined {
  const leafDer = served[0];
  if (!leafDer) return undefined;
  const anchorSet = toAnchorSet(anchors);
  const hops = options.hopCache ?? sharedHopCache;
  const maxLength = Math.min(options.maxLength ?? MAX_PATH_LENGTH, MAX_PATH_LENGTH);
  let leaf: ParsedCertificate;
  try {
    leaf = parseX509(leafDer);
  } catch {
    return undefined;
  }
  const intermediates: ParsedCertificate[] = [];
  const seen = new Set([leaf.key]);
  for (const der of served.slice(1, MAX_SERVED + 1)) {
    try {
      const cert = parseX509(der);
      if (seen.has(cert.key)) continue;
      seen.add(cert.key);
      intermediates.push(cert);
    } catch {
      // a served blob that is not a certificate cannot be on the path
    }
  }
  let budget = MAX_HOP_CHECKS;
  const onPath = new Set<string>();

  const extend = (path: ParsedCertificate[]): ParsedCertificate[] | undefined => {
    const current = path[path.length - 1]!;
    if (anchorSet.has(current)) return path;
    if (path.length >= maxLength) return undefined;
    for (const anchor of anchorSet.namedIssuers(current)) {
      if (onPath.has(anchor.key)) continue;
      if (--budget < 0) return undefined;
      if (hops.check(current, anchor)) return [...path, anchor];
    }
    for (const next of intermediates) {
      if (onPath.has(next.key)) continue;
      if (--budget < 0) return undefined;
      if (!hops.check(current, next)) continue;
      onPath.add(next.key);
      const found = extend([...path, next]);
      onPath.delete(next.key);
      if (found) return found;
    }
    for (const anchor of anchorSet.otherIssuers(current)) {
      if (onPath.has(anchor.key)) continue;
      if (--budget < 0) return undefined;
      if (hops.check(current, anchor)) return [...path, anchor];
    }
    return undefined;
  };

  onPath.add(leaf.key);
  return extend([leaf])?.map((cert) => cert.der);
}
