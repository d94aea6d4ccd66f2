import { type KeyObject, X509Certificate } from "node:crypto";
import { BoundedCache, type CertificateInfo, computePin, type Pin, parseCertificate } from "@keypin/core";
import { type PublicKeyEntry, publicKeyEntryOf } from "./public-key.js";
import { sha256 } from "./sha256.js";

/** A certificate seen by this process, parsed once: Node's view (for signatures) and core's (for the SPKI). */
export interface ParsedCertificate {
  /** The exact DER bytes. */
  der: Uint8Array;
  /** SHA-256 (base64) of the exact DER bytes: the identity every cache here uses ({@link derKey}). */
  key: string;
  x509: X509Certificate;
  /** Lowercased subject, only to find candidate issuers quickly (signatures decide). */
  subjectName: string;
  /** Lowercased issuer name, same purpose. */
  issuerName: string;
}

/**
 * Both caches are bounded in bytes as well as in entries (review F2: a forging peer that served a fresh 80 KB leaf
 * per connection made 2048 entries hold ~850 MB). The weights are multiples of the DER length, measured on leaves
 * of thousands of SANs, the worst case per DER byte (each name a few bytes of DER, each a separate object once read):
 * - `parsed`: an X509Certificate keeps OpenSSL's X509, whose decoded extensions (`checkIssued` decodes the SANs)
 *   took up to 34x the DER in RSS (a leaf of 20,000 one-letter SANs: 60 KB of DER, 2 MB of native memory), 1.8x
 *   before decoding. Weighed at 40x the DER: 8 MiB holds about 100 real certificates (1-2 KB), 25-50 chains, and a
 *   certificate over 200 KB is never kept.
 * - `described`: core's reading (names, SAN lists as strings, a copy of the DER) took 4.1-4.7x the DER on the V8
 *   heap; with the public key made on first use, weighed at 10x the DER + 4 KiB: 8 MiB holds about 400.
 */
export const PARSED_CACHE_BYTES = 8 * 1024 * 1024;
export const DESCRIBED_CACHE_BYTES = 8 * 1024 * 1024;
const parsed = new BoundedCache<ParsedCertificate>(2048, {
  maxBytes: PARSED_CACHE_BYTES,
  sizeOf: (entry) => 40 * entry.der.byteLength + 1024,
});
const described = new BoundedCache<PathCertificate | Error>(2048, {
  maxBytes: DESCRIBED_CACHE_BYTES,
  sizeOf: (entry) =>
    entry instanceof Error
      ? 4096 + 2 * (entry.message.length + (entry.stack?.length ?? 0))
      : 10 * entry.der.byteLength + 4096,
});

/**
 * @internal For keypin's own tests only (not exported by the package): what the certificate caches hold, in
 * entries and in weighed bytes, and their byte budgets.
 */
export function certificateCacheStats(): Record<"parsed" | "described", CacheStats> {
  return { parsed: statsOf(parsed), described: statsOf(described) };
}

/** @internal What a cache holds (tests only). */
export interface CacheStats {
  size: number;
  bytes: number;
  maxBytes: number;
}

/** @internal */
export function statsOf(cache: CacheStats): CacheStats {
  return { size: cache.size, bytes: cache.bytes, maxBytes: cache.maxBytes };
}

/**
 * A certificate as the path builder uses it: core's reading of the DER (names, validity, extensions, the signed
 * bytes) and, made on first use, its public key as a node:crypto KeyObject. Cached by the exact bytes.
 */
export interface PathCertificate {
  der: Uint8Array;
  /** SHA-256 (base64) of the exact DER bytes ({@link derKey}). */
  key: string;
  info: CertificateInfo;
  pin: Pin;
  /** The subject public key (shared by every certificate with the same SPKI), made on first use. */
  keyEntry?: PublicKeyEntry;
}

/**
 * The identity of a certificate's exact DER bytes in every cache here: their SHA-256 (base64), which stands for the
 * bytes as a pin stands for an SPKI (two certificates share a key only if SHA-256 collides). It used to be the base64
 * of the whole DER: a ~1.7 KB string built and then hashed by V8 on every Map lookup, 6-8 µs a certificate against
 * 2-3 µs for the digest and its 44-character string (target 9's cold check reads three certificates).
 */
export function derKey(der: Uint8Array): string {
  return sha256.base64!(der);
}

/** Parses DER with node:crypto, cached by the exact bytes. Throws on bytes that are not a certificate. */
export function parseX509(der: Uint8Array): ParsedCertificate {
  const key = derKey(der);
  const hit = parsed.get(key);
  if (hit) return hit;
  const x509 = new X509Certificate(der);
  const entry: ParsedCertificate = {
    der: new Uint8Array(der),
    key,
    x509,
    subjectName: x509.subject.toLowerCase(),
    issuerName: x509.issuer.toLowerCase(),
  };
  parsed.set(key, entry);
  return entry;
}

/**
 * Core's reading of a certificate and the pin of its SPKI, taken from the certificate's DER by @keypin/core (never
 * from Node's `pubkey`, which is the raw point for EC keys). Cached by the exact bytes, failures included. Throws
 * core's KeypinParseError for bytes core cannot read.
 */
export function describeCertificate(der: Uint8Array): PathCertificate {
  const key = derKey(der);
  const hit = described.get(key);
  if (hit instanceof Error) throw hit;
  if (hit) return hit;
  let entry: PathCertificate | Error;
  try {
    const info = parseCertificate(der);
    entry = { der: info.der, key, info, pin: computePin(info.spki, sha256) };
  } catch (error) {
    entry = error instanceof Error ? error : new Error(String(error));
  }
  described.set(key, entry);
  if (entry instanceof Error) throw entry;
  return entry;
}

/** The certificate's public key and its verification cost, shared by every certificate with the same SPKI. */
export function publicKeyEntryOfCertificate(cert: PathCertificate): PublicKeyEntry {
  if (cert.keyEntry === undefined) cert.keyEntry = publicKeyEntryOf(cert.info.spki, cert.pin);
  return cert.keyEntry;
}

/** The certificate's public key as a KeyObject, made once per SPKI; null when node:crypto cannot read it. */
export function publicKeyOf(cert: PathCertificate): KeyObject | null {
  return publicKeyEntryOfCertificate(cert).key;
}
