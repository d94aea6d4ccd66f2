import { webcrypto } from "node:crypto";
import { parseCertificate } from "@keypin/core";
import * as x509 from "@peculiar/x509";

// @peculiar/x509 takes its crypto from a provider; Node's webcrypto is the one we use everywhere.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ecdsa = { name: "ECDSA", namedCurve: "P-256" } as const;
const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" } as const;

/** A key pair made for this run only; the private half never leaves the process except as PEM for a server. */
export interface LabKey {
  keys: CryptoKeyPair;
  /** PKCS#8 PEM of the private key (handed to Node's TLS server). */
  privateKeyPem: string;
}

/** A certificate the lab issued, with the key it certifies. */
export interface LabCertificate {
  key: LabKey;
  certificate: x509.X509Certificate;
  /** PEM of the certificate. */
  pem: string;
  /** DER of the certificate. */
  der: Uint8Array;
  /** The subject as an RFC 4514-style string, e.g. `CN=api.myapp.com, O=My App`. */
  subject: string;
}

/**
 * Makes a fresh ECDSA P-256 key pair.
 *
 * @example
 * const key = await generateLabKey();
 * https.createServer({ key: key.privateKeyPem, cert });
 */
export async function generateLabKey(): Promise<LabKey> {
  const keys = (await webcrypto.subtle.generateKey(ecdsa, true, ["sign", "verify"])) as CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { keys, privateKeyPem: `${x509.PemConverter.encode(pkcs8, "PRIVATE KEY").trim()}\n` };
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(12));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  bytes[0] = (bytes[0] ?? 0) | 0x10; // no leading zero byte
  return Buffer.from(bytes).toString("hex");
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  // An hour of slack either side of "now" keeps small clock differences from mattering.
  return { notBefore: new Date(now - 3_600_000), notAfter: new Date(now + days * 86_400_000) };
}

function wrap(certificate: x509.X509Certificate, key: LabKey): LabCertificate {
  const der = new Uint8Array(certificate.rawData);
  return {
    key,
    certificate,
    pem: `${certificate.toString("pem").trim()}\n`,
    der,
    // The way keypin shows names everywhere else (RFC 4514: most specific first).
    subject: parseCertificate(der).subject,
  };
}

/**
 * @peculiar/x509 encodes a name's parts in the order written; RFC 4514 text lists them most specific first.
 * The lab's names are written the RFC 4514 way ("CN=…, O=…") and encoded O first, as CAs do.
 */
function toEncodingOrder(name: string): string {
  return name.split(", ").reverse().join(", ");
}

/**
 * Makes a self-signed root certificate authority (a trust anchor).
 *
 * @example
 * const root = await createRootAuthority("CN=Lab Public Root CA, O=keypin lab");
 * root.pem; // -----BEGIN CERTIFICATE----- …
 */
export async function createRootAuthority(name: string, options?: { key?: LabKey }): Promise<LabCertificate> {
  const key = options?.key ?? (await generateLabKey());
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: toEncodingOrder(name),
    keys: key.keys,
    signingAlgorithm,
    ...validity(365),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
    ],
  });
  return wrap(certificate, key);
}

/**
 * Issues an intermediate certificate authority under `issuer`.
 *
 * @example
 * const intermediate = await createIntermediateAuthority(root, "CN=Lab Public CA R1, O=keypin lab");
 */
export async function createIntermediateAuthority(
  issuer: LabCertificate,
  name: string,
): Promise<LabCertificate> {
  const key = await generateLabKey();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: toEncodingOrder(name),
    issuer: issuer.certificate.subject,
    publicKey: key.keys.publicKey,
    signingKey: issuer.key.keys.privateKey,
    signingAlgorithm,
    ...validity(180),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.key.keys.publicKey),
    ],
  });
  return wrap(certificate, key);
}

/**
 * Issues a TLS server certificate for `host` under `issuer`, for a given key (new if absent).
 *
 * @example
 * const leaf = await issueServerCertificate(intermediate, "api.myapp.com", { organization: "My App" });
 * https.createServer({ key: leaf.key.privateKeyPem, cert: leaf.pem + intermediate.pem });
 */
export async function issueServerCertificate(
  issuer: LabCertificate,
  host: string,
  options?: { key?: LabKey; organization?: string; days?: number },
): Promise<LabCertificate> {
  const key = options?.key ?? (await generateLabKey());
  const organization = options?.organization ? `O=${options.organization}, ` : "";
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `${organization}CN=${host}`,
    issuer: issuer.certificate.subject,
    publicKey: key.keys.publicKey,
    signingKey: issuer.key.keys.privateKey,
    signingAlgorithm,
    ...validity(options?.days ?? 30),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: host }]),
      await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.key.keys.publicKey),
    ],
  });
  return wrap(certificate, key);
}

/**
 * The exact DER bytes of a certificate's SubjectPublicKeyInfo (what a pin hashes).
 *
 * @example
 * computePin(spkiOf(leaf), sha256);
 */
export function spkiOf(cert: LabCertificate): Uint8Array {
  return new Uint8Array(cert.certificate.publicKey.rawData);
}

/**
 * The DER SubjectPublicKeyInfo of a bare key (a backup key that has no certificate yet).
 *
 * @example
 * const backup = await generateLabKey();
 * computePin(await spkiOfKey(backup), sha256);
 */
export async function spkiOfKey(key: LabKey): Promise<Uint8Array> {
  return new Uint8Array(await webcrypto.subtle.exportKey("spki", key.keys.publicKey));
}
