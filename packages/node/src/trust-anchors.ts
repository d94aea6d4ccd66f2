import { readFileSync } from "node:fs";
import {
  createSecureContext,
  rootCertificates,
  type SecureContext,
  type SecureContextOptions,
} from "node:tls";
import { decodePem, encodePem, KeypinError } from "@keypin/core";
import { BoundedCache } from "./bounded-cache.js";
import { AnchorSet } from "./verified-path.js";

/** The anchors a TLS connection trusts, and how to make OpenSSL trust exactly those. */
export interface TrustAnchors {
  anchors: AnchorSet;
  /** The `ca` certificates (PEM), one per entry. */
  extraCa: string[];
  /**
   * The NODE_EXTRA_CA_CERTS certificates (PEM) when they are trusted (not `caOnly`). Node keeps them in its
   * default store only: adding a `ca` certificate to a context gives it a fresh store of the bundled roots, without
   * them, so they are added back with the `ca` certificates.
   */
  environmentCa: string[];
  /** Only `extraCa` is trusted. */
  caOnly: boolean;
}

/**
 * A secure context trusting exactly `trust`: Node's default store (bundled roots + NODE_EXTRA_CA_CERTS, as Node
 * loaded them) with the `ca` certificates added, or only `ca`. Adding to the default store costs about a
 * millisecond, where `createSecureContext({ ca: [...roots, ...ca] })` re-parses every root (~100 ms).
 */
export function createTrustContext(trust: TrustAnchors, options: SecureContextOptions = {}): SecureContext {
  if (trust.caOnly) return createSecureContext({ ...options, ca: trust.extraCa });
  const context = createSecureContext({ ...options });
  if (trust.extraCa.length === 0) return context;
  const native = (context as unknown as { context: { addCACert(pem: string): void } }).context;
  for (const pem of [...trust.environmentCa, ...trust.extraCa]) native.addCACert(pem);
  return context;
}

function certificatesOf(pemText: string): { pems: string[]; ders: Uint8Array[] } {
  const pems: string[] = [];
  const ders: Uint8Array[] = [];
  for (const block of decodePem(pemText)) {
    if (block.label !== "CERTIFICATE" && block.label !== "TRUSTED CERTIFICATE") continue;
    ders.push(block.der);
    pems.push(encodePem(block.der));
  }
  return { pems, ders };
}

let defaults: { ders: Uint8Array[]; anchors: AnchorSet; environmentPems: string[] } | undefined;
/** Anchor sets for `ca` lists already seen (keyed by their PEM text): parsing ~140 roots costs milliseconds. */
const composed = new BoundedCache<AnchorSet>(32);

/**
 * Node's default trust: the bundled roots plus the certificates of the NODE_EXTRA_CA_CERTS file (which
 * `tls.rootCertificates` does not list). Read once per process, as Node does.
 */
function defaultAnchors(warn: (message: string) => void): NonNullable<typeof defaults> {
  if (defaults) return defaults;
  const ders: Uint8Array[] = [];
  const environmentPems: string[] = [];
  for (const pem of rootCertificates) ders.push(...certificatesOf(pem).ders);
  const extraFile = process.env["NODE_EXTRA_CA_CERTS"];
  if (extraFile) {
    try {
      const found = certificatesOf(readFileSync(extraFile, "utf8"));
      ders.push(...found.ders);
      environmentPems.push(...found.pems);
    } catch (error) {
      warn(
        `keypin: could not read NODE_EXTRA_CA_CERTS (${extraFile}): ${(error as Error).message}; ` +
          "trusting the bundled roots only.",
      );
    }
  }
  defaults = { ders, anchors: new AnchorSet(ders), environmentPems };
  return defaults;
}

/**
 * The anchors OpenSSL will use for these options: the bundled roots + NODE_EXTRA_CA_CERTS + `ca`, or only `ca`
 * with `caOnly`. Throws KeypinError `ERR_KEYPIN_OPTIONS` when `caOnly` comes without any certificate.
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
    return { anchors: new AnchorSet(extra.ders), extraCa: extra.pems, environmentCa: [], caOnly: true };
  }
  const base = defaultAnchors(warn);
  if (extra.ders.length === 0)
    return { anchors: base.anchors, extraCa: [], environmentCa: base.environmentPems, caOnly: false };
  const key = extra.pems.join("");
  let anchors = composed.get(key);
  if (!anchors) {
    anchors = new AnchorSet([...base.ders, ...extra.ders]);
    composed.set(key, anchors);
  }
  return { anchors, extraCa: extra.pems, environmentCa: base.environmentPems, caOnly: false };
}
