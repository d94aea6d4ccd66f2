// The audit CA: made once per directory, then reused with its key. The certificate is written before the proxy
// listens (so a user can install it first); the key is written with mode 0600 and never printed or returned
// in a report. Short-lived (30 days by default), and with --name-constraints limited to the audited hosts.
import { createHash, webcrypto, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import type { ForgedCertificate } from "@keypin/proxy";
import * as x509 from "@peculiar/x509";
import { canonicalHost, isHostName, printable } from "./host.js";
import { readConstraint, readConstraints } from "./name-constraints.js";

// Node's WebCrypto is the provider (the one-argument overload; its DOM type is not in this build's lib).
x509.cryptoProvider.set(webcrypto as never);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
export const CA_CERT_FILE = "keypin-audit-ca.pem";
export const CA_KEY_FILE = "keypin-audit-ca.key";

/** The per-user directory of the audit CA: $XDG_CONFIG_HOME/keypin/audit, else ~/.config/keypin/audit. */
export function defaultCaDir(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "keypin", "audit");
}

/** The audit CA as loaded: its certificate and pin, and a forge function for the proxy. The key stays inside. */
export interface AuditCa {
  certPath: string;
  keyPath: string;
  certPem: string;
  /** DER of the certificate, for the onboarding page. */
  certDer: Buffer;
  /** sha256/… of the CA's public key. */
  pin: string;
  notAfter: Date;
  /** DNS names and IPs the CA is constrained to; empty when unconstrained. */
  nameConstraints: string[];
  /** Whether it was made by this call (false: reused). */
  created: boolean;
  /**
   * Forges a leaf for `host` (DNS name or IP: an IP SAN), signed by the audit CA: for any host, also one outside
   * `nameConstraints`. On purpose: the constraints live in the CA's certificate and a client enforces them, so the
   * proxy then sees the client refuse the leaf (a `ca-not-trusted` verdict that says why), or, from a client that
   * does not enforce them, the data it sends; refusing to forge would answer the CONNECT 502 and show neither.
   */
  forge(host: string): Promise<ForgedCertificate>;
}

// DER for the NameConstraints extension (RFC 5280 4.2.1.10): permittedSubtrees of dNSName / iPAddress.
function der(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
/**
 * The NameConstraints value for `names` (normalised). Permitted: each name's subtree. Every name form the permitted
 * list does not mention is excluded whole (RFC 5280: a type with no permitted subtree is unconstrained), so a CA
 * limited to DNS names cannot forge for an IP address, nor one limited to IPs for a DNS name:
 * excluded iPAddress 0.0.0.0/0 and ::/0, and excluded dNSName "" (the empty name matches every name): the forms
 * the CA/Browser Forum's Baseline Requirements give a technically constrained CA that may not issue for a type.
 */
function nameConstraintsValue(names: string[]): ArrayBuffer {
  const constraints = names.map((n) => readConstraint(n).constraint);
  const ipSubtree = (bytes: Buffer, mask: Buffer) => der(0x30, der(0x87, Buffer.concat([bytes, mask])));
  const dnsSubtree = (name: string) => der(0x30, der(0x82, Buffer.from(name, "ascii")));
  const permitted = constraints.map((c) =>
    c.kind === "ip" ? ipSubtree(c.bytes, Buffer.alloc(c.bytes.length, 0xff)) : dnsSubtree(c.name),
  );
  const excluded: Buffer[] = [];
  if (!constraints.some((c) => c.kind === "ip" && c.bytes.length === 4))
    excluded.push(ipSubtree(Buffer.alloc(4), Buffer.alloc(4)));
  if (!constraints.some((c) => c.kind === "ip" && c.bytes.length === 16))
    excluded.push(ipSubtree(Buffer.alloc(16), Buffer.alloc(16)));
  if (!constraints.some((c) => c.kind === "dns")) excluded.push(dnsSubtree(""));
  const value = der(
    0x30,
    Buffer.concat([
      der(0xa0, Buffer.concat(permitted)),
      ...(excluded.length > 0 ? [der(0xa1, Buffer.concat(excluded))] : []),
    ]),
  );
  return value.buffer.slice(value.byteOffset, value.byteOffset + value.length) as ArrayBuffer;
}

const pinOf = (spki: ArrayBuffer | Uint8Array): string =>
  `sha256/${createHash("sha256").update(new Uint8Array(spki)).digest("base64")}`;

/**
 * Loads the audit CA from `dir`, or makes it there (cert first, key with mode 0600). A CA that has expired, or
 * whose name constraints differ from `nameConstraints`, is replaced, and `created` says so.
 *
 * @example
 * const ca = await loadOrCreateAuditCa({ dir: defaultCaDir(), nameConstraints: ["api.example.com"] });
 */
export async function loadOrCreateAuditCa(options: {
  dir: string;
  nameConstraints?: string[];
  lifetimeDays?: number;
  now?: Date;
}): Promise<AuditCa> {
  const now = options.now ?? new Date();
  const constraints = readConstraints(options.nameConstraints ?? []);
  const certPath = join(options.dir, CA_CERT_FILE);
  const keyPath = join(options.dir, CA_KEY_FILE);
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  let created = false;
  let reuse = existsSync(certPath) && existsSync(keyPath);
  if (reuse) {
    const cert = new x509.X509Certificate(readFileSync(certPath, "utf8"));
    const nc = cert.extensions.find((e) => e.type === "2.5.29.30");
    const expectedNc = constraints.length > 0 ? Buffer.from(nameConstraintsValue(constraints)) : undefined;
    const sameNc = expectedNc
      ? nc !== undefined && Buffer.from(nc.value).equals(expectedNc)
      : nc === undefined;
    reuse = cert.notAfter.getTime() > now.getTime() + 3600_000 && sameNc;
  }
  if (!reuse) {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
      "sign",
      "verify",
    ])) as webcrypto.CryptoKeyPair;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ];
    if (constraints.length > 0)
      extensions.push(new x509.Extension("2.5.29.30", true, nameConstraintsValue(constraints)));
    const days = options.lifetimeDays ?? 30;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: createHash("sha256")
        .update(String(Math.random()) + now.toISOString())
        .digest("hex")
        .slice(0, 16),
      name: `CN=keypin audit CA ${now.toISOString().slice(0, 10)} for ${days} days, O=keypin audit (remove after the audit)`,
      notBefore: new Date(now.getTime() - 3600_000),
      notAfter: new Date(now.getTime() + days * 86400_000),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions,
    });
    const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
    writeFileSync(keyPath, x509.PemConverter.encode(pkcs8, "PRIVATE KEY"), { mode: 0o600 });
    chmodSync(keyPath, 0o600);
    writeFileSync(certPath, cert.toString("pem"), { mode: 0o644 });
    created = true;
  }
  const certPem = readFileSync(certPath, "utf8");
  const caCert = new x509.X509Certificate(certPem);
  const caKey = await webcrypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decode(readFileSync(keyPath, "utf8"))[0]!,
    ALGORITHM,
    false,
    ["sign"],
  );
  const node = new X509Certificate(certPem);
  const leafKeys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const leafKeyPem = x509.PemConverter.encode(
    await webcrypto.subtle.exportKey("pkcs8", leafKeys.privateKey),
    "PRIVATE KEY",
  );
  return {
    certPath,
    keyPath,
    certPem,
    certDer: Buffer.from(node.raw),
    pin: pinOf(caCert.publicKey.rawData),
    notAfter: caCert.notAfter,
    nameConstraints: constraints,
    created,
    async forge(requested: string): Promise<ForgedCertificate> {
      // The name comes from a peer (CONNECT line or SNI): one host name or address, canonical ("1.2.3" is the
      // address 1.2.0.3, for which an IP SAN can be made), or nothing is forged. A subject built from any text
      // would let "x, O=Evil Corp, CN=bank.test" add attributes to the forged leaf's subject.
      const host = canonicalHost(requested);
      if (!isHostName(host))
        throw new RangeError(
          `the audit CA forges for a host name or an IP address only, got "${printable(requested).slice(0, 120)}"`,
        );
      const ip = isIP(host) !== 0;
      const leafNotAfter = new Date(Math.min(caCert.notAfter.getTime(), Date.now() + 7 * 86400_000));
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: createHash("sha256")
          .update(host + Math.random())
          .digest("hex")
          .slice(0, 16),
        subject: `CN=keypin audit leaf for ${host}`,
        issuer: caCert.subject,
        notBefore: new Date(Date.now() - 3600_000),
        notAfter: leafNotAfter,
        publicKey: leafKeys.publicKey,
        signingKey: caKey,
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: ip ? "ip" : "dns", value: host }]),
          await x509.AuthorityKeyIdentifierExtension.create(caCert),
        ],
      });
      return { key: leafKeyPem, cert: leaf.toString("pem") };
    },
  };
}
