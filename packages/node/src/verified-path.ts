import {
  type CertificateInfo,
  certificateViolation,
  type NameCheckBudget,
  nameConstraintsViolation,
  type PathRuleViolation,
  pathLengthViolation,
} from "@keypin/core";
import { derKey, describeCertificate, type PathCertificate } from "./parsed-certificate.js";
import { verificationCost, verifySignature } from "./signature.js";

/** Longest path accepted, leaf and anchor included. Real chains have 2 to 4 certificates. */
export const MAX_PATH_LENGTH = 10;
/** Served certificates considered beyond the leaf; the rest are ignored. */
const MAX_SERVED = 16;
/** Signature verifications allowed for one path search, whatever their cost. */
const MAX_VERIFICATIONS = 32;
/**
 * Cost units (one unit: an RSA-2048 verification) a search may spend beyond twice the served chain's own cost: the
 * anchor's hop, which may be a P-521 key (43) when the server sends only its leaf.
 */
const COST_SLACK = 48;
/**
 * The most cost units any search may spend, however many costly certificates are served: OpenSSL verifies only the
 * chain it built, so served certificates it never looked at must not buy keypin more work. 96 units (about 3 ms)
 * still fit a P-521 leaf ← intermediate ← root chain (86) and stay under twice an unpinned handshake that carries
 * the served certificates a search could try (issue 12's bench target 8).
 */
const MAX_COST = 96;
/**
 * Names (a DNS name or IP address against one issuer's name constraints) one search may check. Checking is linear
 * (constraints are indexed), so this bounds a peer that serves thousands of names under many constrained CAs: 8
 * constrained intermediates over a leaf of 3,000 names check 24,000.
 */
const MAX_NAME_CHECKS = 32_768;
/**
 * Links one search may consider (each candidate issuer tried at the end of the path), whether its signature is
 * verified now or answered by the hop cache. The verification and cost bounds count only cache misses, so once the
 * process-wide cache held a crafted chain's hops they bounded nothing: 16 served certificates of one name, two keys
 * signing each other, made a search walk about 10^7 cached paths, 17-25 s of blocked event loop per handshake
 * (review B1). Genuine chains consider a handful of links; the cross-signed and decoy shapes in the tests a few dozen.
 */
const MAX_STEPS = 256;

/**
 * Trust anchors prepared once: read by @keypin/core and indexed by subject (in the form OpenSSL compares names in)
 * and by exact bytes. Build one per set of anchors and reuse it; building means reading every certificate.
 */
export class AnchorSet {
  readonly ders: readonly Uint8Array[];
  readonly #byKey = new Map<string, PathCertificate>();
  readonly #bySubject = new Map<string, PathCertificate[]>();

  constructor(ders: readonly Uint8Array[]) {
    const kept: Uint8Array[] = [];
    for (const der of ders) {
      let anchor: PathCertificate;
      try {
        anchor = describeCertificate(der);
      } catch {
        continue; // a certificate keypin cannot read cannot anchor a path keypin builds
      }
      if (this.#byKey.has(anchor.key)) continue;
      this.#byKey.set(anchor.key, anchor);
      kept.push(anchor.der);
      const subject = anchor.info.names.subject;
      const list = this.#bySubject.get(subject);
      if (list) list.push(anchor);
      else this.#bySubject.set(subject, [anchor]);
    }
    this.ders = kept;
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** True when these exact bytes are an anchor. */
  has(cert: { key: string }): boolean {
    return this.#byKey.has(cert.key);
  }

  /** True when these exact DER bytes are an anchor. */
  hasDer(der: Uint8Array): boolean {
    return this.#byKey.has(derKey(der));
  }

  /** Anchors whose subject is `cert`'s issuer name. */
  namedIssuers(cert: PathCertificate): readonly PathCertificate[] {
    return this.#bySubject.get(cert.info.names.issuer) ?? [];
  }
}

/**
 * Verdicts of single signatures ("this issuer's key signed this child"), keyed by the exact bytes of both
 * certificates (their SHA-256, {@link derKey}), so the same child presented with another issuer is verified again. Only signatures are cached:
 * the time-dependent rules are checked on every search.
 */
export class HopCache {
  /**
   * Child bytes → issuer bytes → verdict. Two levels, not one key made of both: the keys are the certificates' own
   * key strings, whose hashes V8 keeps, where a key joined from two strings was built and hashed anew on every
   * lookup.
   */
  readonly #verdicts = new Map<string, Map<string, boolean>>();
  readonly #limit: number;
  #size = 0;
  /** Signature verifications actually performed (cache misses). */
  verifications = 0;
  /** Hops answered from the cache. */
  hits = 0;

  constructor(limit = 2048) {
    this.#limit = limit;
  }

  /** The cached verdict, or undefined when this pair was never verified. */
  cached(child: PathCertificate, issuer: PathCertificate): boolean | undefined {
    const verdict = this.#verdicts.get(child.key)?.get(issuer.key);
    if (verdict !== undefined) this.hits++;
    return verdict;
  }

  /** Verifies the signature and remembers the verdict. */
  verify(child: PathCertificate, issuer: PathCertificate): boolean {
    this.verifications++;
    const ok = verifySignature(child, issuer);
    if (this.#verdicts.get(child.key)?.has(issuer.key)) {
      this.#verdicts.get(child.key)!.set(issuer.key, ok);
      return ok;
    }
    // At the limit, the oldest children are forgotten with all their issuers: the cache never grows unbounded.
    while (this.#size >= this.#limit) {
      const oldest = this.#verdicts.entries().next();
      if (oldest.done) break;
      this.#size -= oldest.value[1].size;
      this.#verdicts.delete(oldest.value[0]);
    }
    let issuers = this.#verdicts.get(child.key);
    if (!issuers) {
      issuers = new Map();
      this.#verdicts.set(child.key, issuers);
    }
    issuers.set(issuer.key, ok);
    this.#size++;
    return ok;
  }

  /** Pairs remembered. */
  get size(): number {
    return this.#size;
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

/** A served certificate that would have linked into a path but breaks a rule there. */
export interface RejectedIssuer {
  /** The certificate's DER and subject. */
  der: Uint8Array;
  subject: string;
  /** The rule it breaks, with its position on the path it would have taken. */
  violation: PathRuleViolation;
}

/** The outcome of a path search. */
export type PathSearch =
  | { found: true; path: Uint8Array[] }
  | {
      found: false;
      /**
       * `no-path`: no chain of valid signatures and rules leads to an anchor. `rules`: one would, through a served
       * certificate that breaks a rule (`rejected`, the first such certificate whose signature is genuine): Node
       * links served certificates by the first name match, so such a certificate hides a valid path behind it.
       * `leaf`: the leaf itself breaks a rule or cannot be read. `budget`: the search stopped at its cost bound.
       */
      reason: "no-path" | "rules" | "leaf" | "budget";
      rejected?: RejectedIssuer;
      /** For `leaf`: what is wrong with it. For `no-path`: that served certificates past the 16th were not read. */
      detail?: string;
    };

export interface PathOptions {
  hopCache?: HopCache;
  maxLength?: number;
  /** The time the path must be valid at (the handshake's). Default: now. */
  now?: Date;
  /**
   * The names the search may check against name constraints, spent as it checks them (default: a fresh budget of
   * 32,768). Pass your own object to read afterwards what a search spent.
   */
  nameChecks?: NameCheckBudget;
}

/**
 * Builds the verified path from the served leaf to a trust anchor, leaf first, anchor last (the anchor may be a root
 * the server did not send), the way OpenSSL accepts one: every hop's signature verified with its issuer's key, every
 * certificate within its validity at `now`, every issuer a CA (basicConstraints cA, keyCertSign when keyUsage is
 * present), path length and name constraints respected, the leaf usable by a TLS server, no certificate twice, at
 * most 10 certificates, and a bounded search. Anchors are tried before served certificates, served certificates in
 * the order given. Served certificates that are not on the path are ignored. Returns `undefined` when no such path
 * exists; {@link searchVerifiedPath} says why.
 *
 * @example
 * import { buildVerifiedPath } from "@keypin/node";
 * const path = buildVerifiedPath([leafDer, intermediateDer], [rootDer]);
 * // → [leafDer, intermediateDer, rootDer], or undefined if a signature does not verify or a rule is broken
 */
export function buildVerifiedPath(
  served: readonly Uint8Array[],
  anchors: readonly Uint8Array[] | AnchorSet,
  options: PathOptions = {},
): Uint8Array[] | undefined {
  const search = searchVerifiedPath(served, anchors, options);
  return search.found ? search.path : undefined;
}

/** {@link buildVerifiedPath}, with the reason when there is no path. Never throws for any input bytes. */
export function searchVerifiedPath(
  served: readonly Uint8Array[],
  anchors: readonly Uint8Array[] | AnchorSet,
  options: PathOptions = {},
): PathSearch {
  return searchVerifiedCertificates(served, anchors, options).search;
}

/**
 * {@link searchVerifiedPath}, and the certificates of the path as the search read them (core's reading and the
 * pin), for a caller that needs them: the pin check, which would otherwise look each one up again by its bytes.
 */
export function searchVerifiedCertificates(
  served: readonly Uint8Array[],
  anchors: readonly Uint8Array[] | AnchorSet,
  options: PathOptions = {},
): { search: PathSearch; certificates: readonly PathCertificate[] } {
  const found = searchPath(served, anchors, options);
  if (!Array.isArray(found)) return { search: found, certificates: [] };
  return { search: { found: true, path: found.map((cert) => cert.der) }, certificates: found };
}

/** The path's certificates when there is one, else why not. */
function searchPath(
  served: readonly Uint8Array[],
  anchors: readonly Uint8Array[] | AnchorSet,
  options: PathOptions,
): PathCertificate[] | Exclude<PathSearch, { found: true }> {
  const leafDer = served[0];
  if (!leafDer) return { found: false, reason: "leaf", detail: "the server sent no certificate" };
  const anchorSet = toAnchorSet(anchors);
  const hops = options.hopCache ?? sharedHopCache;
  const maxLength = Math.min(options.maxLength ?? MAX_PATH_LENGTH, MAX_PATH_LENGTH);
  const now = options.now ?? new Date();
  let leaf: PathCertificate;
  try {
    leaf = describeCertificate(leafDer);
  } catch (error) {
    return {
      found: false,
      reason: "leaf",
      detail: `keypin cannot read the leaf certificate: ${(error as Error).message}`,
    };
  }
  const leafViolation = certificateViolation(leaf.info, 0, { now, anchor: anchorSet.has(leaf) });
  if (leafViolation)
    return { found: false, reason: "leaf", detail: `the leaf certificate ${leafViolation.detail}` };
  if (anchorSet.has(leaf)) return [leaf];

  const intermediates: PathCertificate[] = [];
  const seen = new Set([leaf.key]);
  for (const der of served.slice(1, MAX_SERVED + 1)) {
    try {
      const cert = describeCertificate(der);
      if (seen.has(cert.key)) continue;
      seen.add(cert.key);
      intermediates.push(cert);
    } catch {
      // a served blob keypin cannot read cannot be on the path
    }
  }
  // The cost bound: twice what verifying the served chain once, hop by hop, costs (about what OpenSSL spent), plus
  // slack for the anchor; and a cap on the number of verifications whatever their cost.
  let budget = COST_SLACK;
  for (const cert of intermediates) budget += 2 * Math.min(verificationCost(cert), 64);
  budget = Math.min(budget, MAX_COST);
  let verifications = 0;
  let steps = 0;
  let exhausted = false;
  const names: NameCheckBudget = options.nameChecks ?? { left: MAX_NAME_CHECKS };
  const rejected: { child: PathCertificate; issuer: PathCertificate; violation: PathRuleViolation }[] = [];

  /** Whether `issuer`'s key signed `child`, within the budget. */
  const signed = (child: PathCertificate, issuer: PathCertificate): boolean => {
    const cached = hops.cached(child, issuer);
    if (cached !== undefined) return cached;
    const cost = verificationCost(issuer);
    if (!Number.isFinite(cost)) return false;
    if (verifications >= MAX_VERIFICATIONS || cost > budget) {
      exhausted = true;
      return false;
    }
    verifications++;
    budget -= cost;
    return hops.verify(child, issuer);
  };

  const path: PathCertificate[] = [leaf];
  const infos: CertificateInfo[] = [leaf.info];
  const onPath = new Set([leaf.key]);

  /** Whether `issuer` may follow the end of the path: key identifiers, rules, then (costly, last) the signature. */
  const links = (issuer: PathCertificate): boolean => {
    if (steps >= MAX_STEPS) {
      exhausted = true;
      return false;
    }
    steps++;
    const child = path[path.length - 1]!;
    const akid = child.info.constraints.authorityKeyId;
    const skid = issuer.info.constraints.subjectKeyId;
    if (akid !== undefined && skid !== undefined && akid !== skid) return false;
    // OpenSSL's X509_check_akid: an authorityKeyIdentifier that names the issuer by serial number and issuer name
    // rules out every other certificate, before any signature is checked.
    const { authorityCertSerial, authorityCertIssuerName } = child.info.constraints;
    if (authorityCertSerial !== undefined && authorityCertSerial !== stripZeros(issuer.info.serialNumber))
      return false;
    if (authorityCertIssuerName !== undefined && authorityCertIssuerName !== issuer.info.names.issuer)
      return false;
    const violation =
      certificateViolation(issuer.info, path.length, { now, anchor: anchorSet.has(issuer) }) ??
      pathLengthViolation(infos, issuer.info);
    if (violation) {
      rejected.push({ child, issuer, violation });
      return false;
    }
    if (!signed(child, issuer)) return false;
    // Name constraints last: their cost grows with what the peer serves (names × constrained issuers), so only an
    // issuer whose signature is genuine is checked, within the search's budget of names. Review: checked first,
    // 14 served decoys that never verified cost 0.7-0.9 s of constraint matching per handshake.
    const constrained = nameConstraintsViolation(infos, issuer.info, names);
    if (names.left < 0) {
      exhausted = true;
      return false;
    }
    if (constrained) {
      rejected.push({ child, issuer, violation: constrained });
      return false;
    }
    return true;
  };

  const extend = (): boolean => {
    const current = path[path.length - 1]!;
    if (path.length > 1 && anchorSet.has(current)) return true;
    if (path.length >= maxLength || exhausted) return false;
    for (const anchor of anchorSet.namedIssuers(current)) {
      if (onPath.has(anchor.key) || !links(anchor)) continue;
      path.push(anchor);
      return true;
    }
    for (const next of intermediates) {
      if (onPath.has(next.key) || next.info.names.subject !== current.info.names.issuer) continue;
      if (!links(next)) continue;
      path.push(next);
      infos.push(next.info);
      onPath.add(next.key);
      if (extend()) return true;
      path.pop();
      infos.pop();
      onPath.delete(next.key);
      if (exhausted) return false;
    }
    return false;
  };

  if (extend()) return path;
  if (exhausted) return { found: false, reason: "budget" };
  // A served certificate that broke a rule and whose signature is genuine is the one that hid the path (an anchor
  // that broke one is reported too: its subject tells the operator which CA to look at).
  // These checks spend the same budget: a served certificate that breaks a rule may carry a costly key too.
  for (const { child, issuer, violation } of rejected.slice(0, 4)) {
    if (signed(child, issuer)) {
      return {
        found: false,
        reason: "rules",
        rejected: { der: issuer.der, subject: issuer.info.subject, violation },
      };
    }
  }
  if (exhausted) return { found: false, reason: "budget" };
  // OpenSSL reads every served certificate; keypin only the first MAX_SERVED after the leaf. A path through the
  // others is refused (fail-closed), but the error must not blame the anchors alone.
  if (served.length - 1 > MAX_SERVED)
    return {
      found: false,
      reason: "no-path",
      detail:
        `Or the path runs through a certificate keypin did not read: the served chain has ${served.length - 1} ` +
        `certificates after its leaf and keypin reads only the first ${MAX_SERVED}. Server operator: send only the ` +
        "leaf and the intermediates of one path.",
    };
  return { found: false, reason: "no-path" };
}

/** A serial number's hex without leading zero octets, as the authorityKeyIdentifier's serial is kept. */
function stripZeros(hex: string): string {
  let out = hex;
  while (out.length > 2 && out.startsWith("00")) out = out.slice(2);
  return out;
}
