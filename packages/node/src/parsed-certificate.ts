import { type KeyObject, X509Certificate } from "node:crypto";
import { type CertificateInfo, computePin, type Pin, parseCertificate } from "@keypin/core";
import { BoundedCache } from "./bounded-cache.js";
import { type PublicKeyEntry, publicKeyEntryOf } from "./public-key.js";
import { sha256 } from "./sha256.js";

/** A certificate seen by this process, parsed once: Node's view (for signatures) and core's (for the SPKI). */
export interface ParsedCertificate {
  /** The exact DER bytes. */
  der: Uint8Array;
  /** base64 of the exact DER bytes: the identity every cache here uses. */
  key: string;
  x509: X509Certificate;
  /** Lowercased subject, only to find candidate issuers quickly (signatures decide). */
  subjectName: string;
  /** Lowercased issuer name, same purpose. */
  issuerName: string;
}

const parsed = new BoundedCache<ParsedCertificate>(2048);
const described = new BoundedCache<PathCertificate | Error>(2048);

/**
 * A certificate as the path builder uses it: core's reading of the DER (names, validity, extensions, the signed
 * bytes) and, made on first use, its public key as a node:crypto KeyObject. Cached by the exact bytes.
 */
export interface PathCertificate {
  der: Uint8Array;
  /** base64 of the exact DER bytes. */
  key: string;
  info: CertificateInfo;
  pin: Pin;
  /** The subject public key (shared by every certificate with the same SPKI), made on first use. */
  keyEntry?: PublicKeyEntry;
}

export function derKey(der: Uint8Array): string {
  return Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
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
