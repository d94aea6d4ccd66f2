// Certificate authorities and server certificates made with the openssl command line, as files in a directory
// (an outside tool, so the material does not depend on the code under test): roots, intermediates, leaves for
// DNS names and IP addresses, cross-signed roots, and the small CA + leaf PKI of the export tests.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type GenpkeyKind, genpkeyArgs, openssl, opensslPinOfCertificateFile, type Pin } from "./openssl.js";

/** Writes a new private key (PKCS#8 PEM) of `kind` to `path` and returns the path. */
export function generateKeyFile(path: string, kind: GenpkeyKind): string {
  openssl(["genpkey", ...genpkeyArgs(kind), "-out", path]);
  return path;
}

/** A certificate made here: its files and both as text. */
export interface Issued {
  keyPath: string;
  certPath: string;
  key: string;
  cert: string;
}

interface FileOptions {
  kind?: GenpkeyKind;
  days?: number;
  /** The certificate's file name in `dir` (default `<name>.crt`). */
  certName?: string;
}

const CA_LINES = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"];

function issued(keyPath: string, certPath: string): Issued {
  return { keyPath, certPath, key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8") };
}

/**
 * A self-signed certificate (`openssl req -x509 -new -key … -addext …`): with `addext` empty, only the extensions
 * of openssl's default configuration.
 */
export function makeSelfSigned(
  dir: string,
  name: string,
  subject: string,
  options: FileOptions & { addext?: readonly string[] } = {},
): Issued {
  mkdirSync(dir, { recursive: true });
  const keyPath = generateKeyFile(join(dir, `${name}.key`), options.kind ?? "ec-p256");
  const certPath = join(dir, options.certName ?? `${name}.crt`);
  const days = String(options.days ?? 3650);
  const addext = (options.addext ?? []).flatMap((line) => ["-addext", line]);
  openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    keyPath,
    "-subj",
    subject,
    "-days",
    days,
    ...addext,
    "-out",
    certPath,
  ]);
  return issued(keyPath, certPath);
}

/** A certificate authority made with openssl: a self-signed root, or an intermediate signed by `issuer`. */
export function makeCa(
  dir: string,
  name: string,
  subject: string,
  options: FileOptions & { issuer?: Issued } = {},
): Issued {
  if (!options.issuer) return makeSelfSigned(dir, name, subject, { ...options, addext: CA_LINES });
  mkdirSync(dir, { recursive: true });
  const keyPath = generateKeyFile(join(dir, `${name}.key`), options.kind ?? "ec-p256");
  const certPath = join(dir, options.certName ?? `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    [...CA_LINES, "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid", ""].join("\n"),
  );
  signCsr(keyPath, subject, options.issuer, String(options.days ?? 3650), ext, certPath);
  return issued(keyPath, certPath);
}

/** Certifies the key at `keyPath` as `subject` with `issuer`, using the extensions file `ext`. */
function signCsr(
  keyPath: string,
  subject: string,
  issuer: Issued,
  days: string,
  ext: string,
  certPath: string,
): void {
  const csr = openssl(["req", "-new", "-key", keyPath, "-subj", subject]);
  openssl(
    [
      "x509",
      "-req",
      "-CA",
      issuer.certPath,
      "-CAkey",
      issuer.keyPath,
      "-CAcreateserial",
      "-days",
      days,
      "-extfile",
      ext,
      "-out",
      certPath,
    ],
    csr,
  );
}

/** The same subject and key as `ca`, certified by `issuer` instead of by itself (a cross-signed root). */
export function crossSign(dir: string, ca: Issued, subject: string, issuer: Issued): Issued {
  const certPath = join(dir, `cross-${Math.random().toString(36).slice(2)}.crt`);
  const ext = join(dir, "cross.ext");
  writeFileSync(ext, [...CA_LINES, "subjectKeyIdentifier=hash", ""].join("\n"));
  signCsr(ca.keyPath, subject, issuer, "365", ext, certPath);
  return { keyPath: ca.keyPath, certPath, key: ca.key, cert: readFileSync(certPath, "utf8") };
}

/**
 * A TLS server certificate for `names` (DNS names and IP addresses) signed by `issuer`. `extensions` replaces the
 * default extension lines (critical CA:FALSE, digitalSignature and keyEncipherment, serverAuth, the SANs, the
 * issuer's key identifier); `keyPath` certifies an existing key.
 */
export function makeLeaf(
  dir: string,
  name: string,
  names: readonly string[],
  issuer: Issued,
  options: FileOptions & { keyPath?: string; extensions?: readonly string[] } = {},
): Issued {
  mkdirSync(dir, { recursive: true });
  const keyPath = options.keyPath ?? generateKeyFile(join(dir, `${name}.key`), options.kind ?? "ec-p256");
  const certPath = join(dir, options.certName ?? `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  const lines = options.extensions ?? [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    `subjectAltName=${subjectAltNames(names)}`,
    "authorityKeyIdentifier=keyid",
  ];
  writeFileSync(ext, `${lines.join("\n")}\n`);
  signCsr(keyPath, `/CN=${names[0]}`, issuer, String(options.days ?? 90), ext, certPath);
  return issued(keyPath, certPath);
}

/** An extfile's subjectAltName value: `IP:` for addresses, `DNS:` for names. */
export function subjectAltNames(names: readonly string[]): string {
  return names.map((n) => (/^[0-9.]+$/.test(n) || n.includes(":") ? `IP:${n}` : `DNS:${n}`)).join(",");
}

/** The export tests' PKI: a CA, a leaf it signed, and an unrelated self-signed certificate, with openssl's pins. */
export interface TestPki {
  caPem: string;
  leafPem: string;
  leafKeyPem: string;
  /** sha256/… pins computed by openssl from each certificate's public key. */
  caPin: Pin;
  leafPin: Pin;
  /** A pin of a key that is in no chain. */
  otherPin: Pin;
  caPath: string;
}

/**
 * A CA and a leaf for `hosts` (DNS names) signed by it, made with the openssl CLI in `dir` as ca.pem + ca.key,
 * leaf.pem + leaf.key, and other.pem + other.key (unrelated), all valid 30 days.
 */
export function makePki(dir: string, hosts: string[]): TestPki {
  const ca = makeCa(dir, "ca", "/CN=keypin export test CA", { days: 30, certName: "ca.pem" });
  const leaf = makeLeaf(dir, "leaf", hosts, ca, {
    days: 30,
    certName: "leaf.pem",
    extensions: [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(",")}`,
    ],
  });
  const other = makeSelfSigned(dir, "other", "/CN=unrelated", { days: 30, certName: "other.pem" });
  return {
    caPem: ca.cert,
    leafPem: leaf.cert,
    leafKeyPem: leaf.key,
    caPin: opensslPinOfCertificateFile(ca.certPath),
    leafPin: opensslPinOfCertificateFile(leaf.certPath),
    otherPin: opensslPinOfCertificateFile(other.certPath),
    caPath: ca.certPath,
  };
}
