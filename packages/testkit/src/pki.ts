// Test PKI: root → intermediate → leaf chains generated in the test with @peculiar/x509 over node:crypto's WebCrypto.
import { createHash, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyKind = "rsa" | "p256" | "p384" | "ed25519";

const ALGORITHMS: Record<KeyKind, webcrypto.Algorithm & Record<string, unknown>> = {
  rsa: {
    name: "RSASSA-PKCS1-v1_5",
    hash: "SHA-256",
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  },
  p256: { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" },
  p384: { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" },
  ed25519: { name: "Ed25519" },
};

/** A key pair with its PEM private key and the pin of its public key (SHA-256 of WebCrypto's SPKI export). */
export interface TestKey {
  kind: KeyKind;
  keys: webcrypto.CryptoKeyPair;
  keyPem: string;
  spki: Uint8Array;
  pin: `sha256/${string}`;
}

/** A certificate with its key. `chainPem` is this certificate followed by its issuers up to (not incl.) the root. */
export interface TestCert extends TestKey {
  cert: x509.X509Certificate;
  der: Uint8Array;
  pem: string;
  subject: string;
  skid: string;
}

let serial = 1;

export async function generateKey(kind: KeyKind): Promise<TestKey> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHMS[kind], true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const spki = new Uint8Array(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  const keyPem = x509.PemConverter.encode(pkcs8.buffer as ArrayBuffer, "PRIVATE KEY");
  return { kind, keys, keyPem, spki, pin: `sha256/${createHash("sha256").update(spki).digest("base64")}` };
}

function skidOf(spki: Uint8Array): string {
  return createHash("sha1").update(spki).digest("hex");
}

export interface IssueOptions {
  /** Subject DN, e.g. "CN=Root". */
  subject: string;
  /** The issuing certificate; absent = self-signed. */
  issuer?: TestCert | undefined;
  /** Sign with this key instead of the issuer's (forgeries), keeping the issuer's name and key identifier. */
  signingKey?: TestKey | undefined;
  /** Override the issuer DN written in the certificate. */
  issuerName?: string | undefined;
  /** Override the authority key identifier (hex). */
  authorityKeyId?: string | undefined;
  /** Override the subject key identifier (hex). */
  subjectKeyId?: string | undefined;
  ca?: boolean;
  dns?: string[];
  ips?: string[];
  notBefore?: Date;
  notAfter?: Date;
  key?: TestKey | undefined;
}

export async function issue(kind: KeyKind, options: IssueOptions): Promise<TestCert> {
  const key = options.key ?? (await generateKey(kind));
  const signer = options.signingKey ?? options.issuer ?? key;
  const skid = options.subjectKeyId ?? skidOf(key.spki);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true),
    new x509.KeyUsagesExtension(
      options.ca
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.SubjectKeyIdentifierExtension(skid),
  ];
  const akid = options.authorityKeyId ?? options.issuer?.skid;
  if (akid) extensions.push(new x509.AuthorityKeyIdentifierExtension(akid));
  if (!options.ca) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]));
  const names = [
    ...(options.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const now = Date.now();
  const signingAlgorithm = ALGORITHMS[signer.kind];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(4, "0"),
    subject: options.subject,
    issuer: options.issuerName ?? options.issuer?.subject ?? options.subject,
    notBefore: options.notBefore ?? new Date(now - 3600_000),
    notAfter: options.notAfter ?? new Date(now + 30 * 86400_000),
    publicKey: key.keys.publicKey,
    signingKey: signer.keys.privateKey,
    signingAlgorithm,
    extensions,
  });
  const der = new Uint8Array(cert.rawData);
  return { ...key, cert, der, pem: `${cert.toString("pem").trim()}\n`, subject: options.subject, skid };
}

/** A root → intermediate → leaf chain for `hosts`, all keys of `kind`. */
export interface TestChain {
  root: TestCert;
  intermediate: TestCert;
  leaf: TestCert;
  /** What a server sends: leaf then intermediate (PEM). */
  served: string;
}

export async function createChain(kind: KeyKind, hosts: string[], label: string = kind): Promise<TestChain> {
  const root = await issue(kind, { subject: `CN=keypin test root ${label}, O=keypin tests`, ca: true });
  const intermediate = await issue(kind, {
    subject: `CN=keypin test intermediate ${label}, O=keypin tests`,
    issuer: root,
    ca: true,
  });
  const leaf = await issueLeaf(kind, hosts, intermediate);
  return { root, intermediate, leaf, served: leaf.pem + intermediate.pem };
}

export function issueLeaf(
  kind: KeyKind,
  hosts: string[],
  issuer: TestCert,
  extra: Partial<IssueOptions> = {},
) {
  const dns = hosts.filter((h) => !/^[\d.]+$|:/.test(h));
  const ips = hosts.filter((h) => /^[\d.]+$|:/.test(h));
  return issue(kind, { subject: `CN=${hosts[0] ?? "leaf"}`, issuer, dns, ips, ...extra });
}
