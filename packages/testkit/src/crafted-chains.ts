// Crafted server chains for the "bounded work" class: chains an attacker can serve that OpenSSL still accepts (so
// keypin's path search runs), built to make that search verify as many costly signatures as possible. Used by
// bench/targets/worst-chain.ts (time) and packages/node/test/bounded-work.test.ts (verification counts).
//
// What the shapes exploit, from OpenSSL 3.0's and Node 20's sources:
// - Node links getPeerCertificate(true) by the FIRST served certificate that X509_check_issued accepts (names, key
//   identifiers, keyUsage, the signature algorithm against the issuer's key type; no dates, no signatures).
// - OpenSSL's chain builder takes trusted issuers first, then the first served candidate that check_issued accepts
//   AND is within its validity (an expired one only as a last resort), and verifies that one chain, no backtracking.
// - X509_check_akid also compares an authorityKeyIdentifier's issuer name and serial number; keypin's path search
//   compares key identifiers only, so certificates OpenSSL and Node never pick as the leaf's issuer are still
//   candidates for keypin, if Node links them in elsewhere (here: through a certificate that reuses the anchor's name).
// - Keys: RSA with a 64-bit public exponent (the most OpenSSL accepts above 3072 bits and keypin verifies with),
//   RSA-8192 (keypin's largest), and EC curves whose verification is slow (P-521; binary sect571k1).

import { execFileSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { concatBytes, derTlv } from "./der-cert.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const subtle = webcrypto.subtle;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** A signing key in WebCrypto (what @peculiar/x509 signs with) and its SPKI. */
interface Signer {
  keys: CryptoKeyPair;
  algorithm: webcrypto.Algorithm & Record<string, unknown>;
  spki: Uint8Array;
}

const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

async function rsaSigner(modulusLength: number): Promise<Signer> {
  const algorithm = { ...RSA_SHA256, modulusLength, publicExponent: new Uint8Array([1, 0, 1]) };
  const keys = (await subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  return { keys, algorithm, spki: new Uint8Array(await subtle.exportKey("spki", keys.publicKey)) };
}

async function p256Signer(): Promise<Signer> {
  const keys = (await subtle.generateKey(ECDSA_P256, true, ["sign", "verify"])) as CryptoKeyPair;
  return {
    keys,
    algorithm: ECDSA_P256,
    spki: new Uint8Array(await subtle.exportKey("spki", keys.publicKey)),
  };
}

/** An RSA public key (SPKI DER) with exponent 2^64 − 1: 64 bits, all ones (the costliest 64-bit exponent). */
function rsaBigExponentSpki(modulusLength: number): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "keypin-crafted-"));
  try {
    execFileSync(
      "openssl",
      [
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        `rsa_keygen_bits:${modulusLength}`,
        "-pkeyopt",
        "rsa_keygen_pubexp:18446744073709551615",
        "-out",
        join(dir, "key.pem"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const key = createPublicKey(createPrivateKey(readFileSync(join(dir, "key.pem"))));
    return new Uint8Array(key.export({ type: "spki", format: "der" }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function ecSpki(namedCurve: string): Uint8Array {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve });
  return new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
}

/** authorityKeyIdentifier naming the issuer by its issuer's name and its serial number, with no key identifier. */
function akidByIssuerAndSerial(issuerOfIssuer: string, serialHex: string): x509.Extension {
  const name = new Uint8Array(new x509.Name(issuerOfIssuer).toArrayBuffer());
  const serial = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, "hex");
  const value = derTlv(0x30, concatBytes([derTlv(0xa1, derTlv(0xa4, name)), derTlv(0x82, serial)]));
  return new x509.Extension("2.5.29.35", false, value);
}

interface CertOptions {
  subject: string;
  issuer: string;
  /** The subject's public key (SPKI DER), any algorithm. */
  spki: Uint8Array;
  signer: Signer;
  serial: string;
  ca: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** Key identifiers: the subject's (sha1 of the SPKI) and the issuer's, or none. */
  skid?: boolean;
  akidOf?: Uint8Array;
  akidIssuerSerial?: { issuerOfIssuer: string; serial: string };
  dns?: string[];
}

async function certificate(o: CertOptions): Promise<string> {
  const now = Date.now();
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(o.ca, undefined, true)];
  extensions.push(
    new x509.KeyUsagesExtension(
      o.ca
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
  );
  if (o.skid) extensions.push(new x509.SubjectKeyIdentifierExtension(sha1(o.spki)));
  if (o.akidOf) extensions.push(new x509.AuthorityKeyIdentifierExtension(sha1(o.akidOf)));
  if (o.akidIssuerSerial)
    extensions.push(akidByIssuerAndSerial(o.akidIssuerSerial.issuerOfIssuer, o.akidIssuerSerial.serial));
  if (o.dns) {
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]));
    extensions.push(new x509.SubjectAlternativeNameExtension(o.dns.map((value) => ({ type: "dns", value }))));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial,
    subject: o.subject,
    issuer: o.issuer,
    notBefore: o.notBefore ?? new Date(now - 3600_000),
    notAfter: o.notAfter ?? new Date(now + 30 * 86400_000),
    publicKey: o.spki,
    signingKey: o.signer.keys.privateKey,
    signingAlgorithm: o.signer.algorithm,
    extensions,
  });
  return `${cert.toString("pem").trim()}\n`;
}

function sha1(spki: Uint8Array): string {
  return createHash("sha1").update(spki).digest("hex");
}

/** The decoys' public keys: what each keypin verification against a decoy costs. */
export type DecoyKey = "sect571k1" | "secp521r1" | "rsa8192-e64";

export interface CraftedChain {
  name: string;
  /** One sentence: what the chain is and why OpenSSL accepts it. */
  description: string;
  rootPem: string;
  /** The real (lower) intermediate: it signs the leaves, and the policy pins it. */
  intermediatePem: string;
  /** Everything served after the leaf, in served order. */
  tail: string[];
  leafKeyPem: string;
  /**
   * The chain as served in one handshake, `n` making it unlike every other: a leaf with its own serial, and the
   * intermediate and every decoy re-issued (same names, keys and serials, validity shifted by `n` seconds), so that
   * every signature keypin checks on it is one it has never checked: a cold check. PEM, leaf first.
   */
  makeVariant(n: number): Promise<{ leafPem: string; intermediatePem: string; served: string }>;
}

// A three-level PKI: root R → upper intermediate M → intermediate I → leaf.
const ROOT = "CN=keypin crafted root, O=keypin bench";
const UPPER = "CN=keypin crafted upper intermediate, O=keypin bench";
const INTERMEDIATE = "CN=keypin crafted intermediate, O=keypin bench";

interface Pki {
  root: Signer;
  upper: Signer;
  intermediate: Signer;
  rootPem: string;
  upperPem: string;
  intermediatePem: string;
  /** A throwaway key the attacker signs decoys with (of the family Node's linking needs). */
  attacker: Signer;
  /** Seconds every validity is shifted by: the same chain with other bytes. */
  shift: number;
}

function validity(shift: number, expiredOne = false): { notBefore: Date; notAfter: Date } {
  const from = expiredOne ? Date.UTC(2020, 0, 1) : Date.now() - 3600_000;
  const to = expiredOne ? Date.UTC(2021, 0, 1) : Date.now() + 30 * 86400_000;
  return { notBefore: new Date(from - shift * 1000), notAfter: new Date(to) };
}

const SERIAL = { root: "01", upper: "4d55", intermediate: "4e41" };

interface Shape {
  description: string;
  /** Key of the upper and lower intermediates (RSA-8192 when the decoys are: the signatures must fill their modulus). */
  keys: "p256" | "rsa8192";
  decoy?: DecoyKey;
  /** The leaf and the intermediate name their issuer by name and serial (authorityKeyIdentifier without key id). */
  akidBySerial: boolean;
  tail(pki: Pki, decoySpki: Uint8Array | undefined): Promise<string[]>;
}

/** The example: fifteen expired copies of the intermediate (same name and key, no key ids) served first. */
const expiredTwins: Shape = {
  description:
    "15 expired copies of the intermediate (same name and key, no key identifiers) served before it; Node links the first, OpenSSL skips them all",
  keys: "p256",
  akidBySerial: false,
  async tail(p) {
    const tail: string[] = [];
    for (let i = 0; i < 15; i++) {
      tail.push(
        await certificate({
          subject: INTERMEDIATE,
          issuer: UPPER,
          spki: p.intermediate.spki,
          signer: p.upper,
          serial: (0x100 + i).toString(16),
          ca: true,
          ...validity(p.shift, true),
        }),
      );
    }
    return [...tail, p.intermediatePem, p.upperPem];
  },
};

/**
 * Decoys OpenSSL never considers: the leaf and the intermediate name their issuers by issuer name and serial. Served:
 * an expired twin of the intermediate with its serial (Node links it first, OpenSSL skips it), then alternately
 * certificates named like the upper intermediate (F) and like the intermediate (D), valid CAs with other serials,
 * which Node links one after the other (F's issuer is I's name, D's is M's), then I and M. OpenSSL's and Node's
 * serial check rejects every D as the leaf's issuer and every F as I's; keypin's search does not compare serials.
 * `fanout`: the D's carry the intermediate's own key, so each one verifies the leaf and opens a branch of F's.
 */
function akidDecoys(decoy: DecoyKey, fanout: boolean): Shape {
  return {
    description: fanout
      ? `6 same-name copies of the intermediate with its key (each verifies the leaf) and 7 of the upper intermediate with ${decoy} keys, other serials than the authorityKeyIdentifiers name: every branch dead-ends`
      : `6 same-name CA decoys of the intermediate and 7 of the upper intermediate, all with ${decoy} keys and other serials than the authorityKeyIdentifiers name, linked by Node through an expired twin`,
    keys: decoy === "rsa8192-e64" ? "rsa8192" : "p256",
    decoy,
    akidBySerial: true,
    async tail(p, decoySpki) {
      const twin = await certificate({
        subject: INTERMEDIATE,
        issuer: UPPER,
        spki: p.intermediate.spki,
        signer: p.attacker,
        serial: SERIAL.intermediate,
        ca: true,
        ...validity(p.shift, true),
      });
      const tail = [twin];
      for (let i = 0; i < 7; i++) {
        tail.push(
          await certificate({
            subject: UPPER,
            issuer: INTERMEDIATE,
            spki: decoySpki!,
            signer: p.attacker,
            serial: (0x300 + i).toString(16),
            ca: true,
            ...validity(p.shift),
          }),
        );
        if (i === 6) break;
        tail.push(
          await certificate({
            subject: INTERMEDIATE,
            issuer: UPPER,
            spki: fanout ? p.intermediate.spki : decoySpki!,
            signer: p.attacker,
            serial: (0x200 + i).toString(16),
            ca: true,
            ...validity(p.shift),
          }),
        );
      }
      return [...tail, p.intermediatePem, p.upperPem];
    },
  };
}

export const SHAPES = {
  "expired-twins": expiredTwins,
  "akid-decoys-sect571k1": akidDecoys("sect571k1", false),
  "akid-decoys-secp521r1": akidDecoys("secp521r1", false),
  "akid-decoys-rsa8192-e64": akidDecoys("rsa8192-e64", false),
  "akid-fanout-sect571k1": akidDecoys("sect571k1", true),
} as const;

export type ShapeName = keyof typeof SHAPES;

function decoySpkiOf(decoy: DecoyKey | undefined): Uint8Array | undefined {
  if (decoy === "sect571k1" || decoy === "secp521r1") return ecSpki(decoy);
  if (decoy === "rsa8192-e64") return rsaBigExponentSpki(8192);
  return undefined;
}

/** Builds the named chain for `host`: a new root, intermediates, decoys and leaf key (RSA-8192 shapes: seconds). */
export async function craftChain(name: ShapeName, host: string): Promise<CraftedChain> {
  const shape: Shape = SHAPES[name];
  const big = shape.keys === "rsa8192";
  const root = await rsaSigner(2048);
  const upper = big ? await rsaSigner(8192) : await p256Signer();
  // RSA-8192: one key for both intermediates (their certificates differ; an 8192-bit key takes seconds to make).
  const intermediate = big ? upper : await p256Signer();
  // RSA decoys: the attacker's own signatures are never verified with a decoy key in that shape, so 2048 bits do.
  const attacker = big ? await rsaSigner(2048) : await p256Signer();
  const rootPem = await certificate({
    subject: ROOT,
    issuer: ROOT,
    spki: root.spki,
    signer: root,
    serial: SERIAL.root,
    ca: true,
    skid: true,
  });
  const upperPem = await certificate({
    subject: UPPER,
    issuer: ROOT,
    spki: upper.spki,
    signer: root,
    serial: SERIAL.upper,
    ca: true,
    skid: true,
    akidOf: root.spki,
  });
  const intermediateOptions: CertOptions = {
    subject: INTERMEDIATE,
    issuer: UPPER,
    spki: intermediate.spki,
    signer: upper,
    serial: SERIAL.intermediate,
    ca: true,
    skid: true,
    ...(shape.akidBySerial
      ? { akidIssuerSerial: { issuerOfIssuer: ROOT, serial: SERIAL.upper } }
      : { akidOf: upper.spki }),
  };
  const intermediatePem = await certificate(intermediateOptions);
  const pki: Pki = { root, upper, intermediate, rootPem, upperPem, intermediatePem, attacker, shift: 0 };
  const decoySpki = decoySpkiOf(shape.decoy);
  const tail = await shape.tail(pki, decoySpki);
  const leafKey = await p256Signer();
  const leafKeyPem = x509.PemConverter.encode(
    await subtle.exportKey("pkcs8", leafKey.keys.privateKey),
    "PRIVATE KEY",
  );
  return {
    name,
    description: shape.description,
    rootPem,
    intermediatePem,
    tail,
    leafKeyPem,
    async makeVariant(n) {
      const variantIntermediate = await certificate({ ...intermediateOptions, ...validity(n) });
      const variantTail = await shape.tail(
        { ...pki, intermediatePem: variantIntermediate, shift: n },
        decoySpki,
      );
      const leafPem = await certificate({
        subject: `CN=${host}`,
        issuer: INTERMEDIATE,
        spki: leafKey.spki,
        signer: intermediate,
        serial: (0x10000 + n).toString(16),
        ca: false,
        dns: [host],
        ...(shape.akidBySerial
          ? { akidIssuerSerial: { issuerOfIssuer: UPPER, serial: SERIAL.intermediate } }
          : { akidOf: intermediate.spki }),
      });
      return { leafPem, intermediatePem: variantIntermediate, served: [leafPem, ...variantTail].join("") };
    },
  };
}
