// Certificates, public keys, CSRs and private keys read from PEM or DER: what `keypin hash` and the policy tools take.

import { decodeLatin1 } from "../bytes.js";
import { childrenOf, encodingOf, expectNode, readNode, TAG, tagName } from "../der.js";
import { KeypinParseError } from "../errors.js";
import { decodePem, type PemBlock } from "../pem.js";
import { type CertificateInfo, readCertificate } from "./certificate.js";
import { readName } from "./name.js";
import { keyTypeOf, parseSpki, rsaPublicKeyToSpki } from "./spki.js";

/**
 * One thing found by {@link readKeyMaterial}. `index` is its position among the blocks of the input
 * (0 for DER). Private keys are reported but not opened: deriving their public half needs curve maths,
 * which `@keypin/node` does with node:crypto.
 *
 * @example
 * ```ts
 * for (const m of readKeyMaterial(text)) if (m.kind !== "private-key") console.log(m.keyType);
 * ```
 */
export type KeyMaterial =
  | { kind: "certificate"; index: number; spki: Uint8Array; keyType: string; certificate: CertificateInfo }
  | { kind: "public-key"; index: number; spki: Uint8Array; keyType: string }
  | { kind: "csr"; index: number; spki: Uint8Array; keyType: string; subject: string }
  | {
      kind: "private-key";
      index: number;
      /** The block's bytes: PKCS#8, encrypted PKCS#8, PKCS#1 or SEC1 DER; with `pem.headers`, ciphertext. */
      der: Uint8Array;
      encrypted: boolean;
      /**
       * Read from PEM: its label and RFC 1421 headers. OpenSSL's legacy encryption ("Proc-Type: 4,ENCRYPTED")
       * keeps its cipher in the headers, so such a key is only readable again as
       * `encodePem(der, pem.label, pem.headers)`.
       */
      pem?: { label: string; headers?: Record<string, string> };
    };

const IGNORED_LABELS = new Set(["EC PARAMETERS", "DH PARAMETERS", "X509 CRL", "PARAMETERS"]);

/**
 * Reads certificates, public keys, CSRs and private keys from PEM text (one block or a bundle) or DER
 * bytes (the kind is detected from the structure). Bytes that are PEM text are read as PEM.
 * Throws {@link KeypinParseError} (with the offset) on malformed input or when nothing is found.
 *
 * @example
 * ```ts
 * const pins = readKeyMaterial(readFileSync("fullchain.pem", "utf8"))
 *   .flatMap((m) => (m.kind === "private-key" ? [] : [computePin(m.spki, sha256)]));
 * ```
 */
export function readKeyMaterial(input: string | Uint8Array): KeyMaterial[] {
  if (typeof input !== "string") {
    if (looksLikePem(input)) return readKeyMaterial(decodeLatin1(input));
    return [readDer(input, 0)];
  }
  const blocks = decodePem(input);
  if (blocks.length === 0) {
    throw new KeypinParseError(
      "no PEM block found (expected -----BEGIN CERTIFICATE-----, PUBLIC KEY, CERTIFICATE REQUEST or PRIVATE KEY)",
      0,
    );
  }
  const out: KeyMaterial[] = [];
  blocks.forEach((block, index) => {
    const m = readBlock(block, index);
    if (m) out.push(m);
  });
  if (out.length === 0) {
    throw new KeypinParseError(
      `no certificate, public key, CSR or private key among the PEM blocks (${blocks.map((b) => b.label).join(", ")})`,
      0,
    );
  }
  return out;
}

function looksLikePem(bytes: Uint8Array): boolean {
  const marker = [45, 45, 45, 45, 45, 66, 69, 71, 73, 78, 32]; // "-----BEGIN "
  const limit = Math.min(bytes.length - marker.length, 64 * 1024);
  outer: for (let i = 0; i <= limit; i++) {
    for (let j = 0; j < marker.length; j++) if (bytes[i + j] !== marker[j]) continue outer;
    return true;
  }
  return false;
}

function readBlock(block: PemBlock, index: number): KeyMaterial | undefined {
  const { label, der, line } = block;
  try {
    switch (label) {
      case "CERTIFICATE":
      case "X509 CERTIFICATE":
      case "TRUSTED CERTIFICATE": {
        // openssl's TRUSTED CERTIFICATE appends trust settings after the certificate.
        const node = expectNode(der, 0, der.length, TAG.SEQUENCE, "a certificate");
        if (label !== "TRUSTED CERTIFICATE" && node.end !== der.length) {
          throw new KeypinParseError(
            `${der.length - node.end} unexpected bytes after the certificate`,
            node.end,
          );
        }
        const certificate = readCertificate(der, node);
        return {
          kind: "certificate",
          index,
          spki: certificate.spki,
          keyType: certificate.keyType,
          certificate,
        };
      }
      case "PUBLIC KEY": {
        const { spki, keyType } = parseSpki(der);
        return { kind: "public-key", index, spki, keyType };
      }
      case "RSA PUBLIC KEY": {
        const spki = rsaPublicKeyToSpki(der);
        return { kind: "public-key", index, spki, keyType: parseSpki(spki).keyType };
      }
      case "CERTIFICATE REQUEST":
      case "NEW CERTIFICATE REQUEST":
        return readCsr(der, index);
      case "PRIVATE KEY":
      case "RSA PRIVATE KEY":
      case "EC PRIVATE KEY":
      case "DSA PRIVATE KEY":
      case "ENCRYPTED PRIVATE KEY": {
        const encrypted =
          label === "ENCRYPTED PRIVATE KEY" || /ENCRYPTED/i.test(block.headers?.["Proc-Type"] ?? "");
        const pem = block.headers ? { label, headers: block.headers } : { label };
        return { kind: "private-key", index, der, encrypted, pem };
      }
      case "OPENSSH PRIVATE KEY":
        throw new KeypinParseError(
          `PEM block at line ${line} is an OpenSSH private key, which keypin does not read; use its certificate or public key, or convert it with: ssh-keygen -p -m PKCS8 -f <file>`,
          0,
        );
      default:
        if (IGNORED_LABELS.has(label)) return undefined;
        throw new KeypinParseError(
          `PEM block "${label}" at line ${line} is not a certificate, public key, CSR or private key`,
          0,
        );
    }
  } catch (e) {
    if (e instanceof KeypinParseError) {
      throw new KeypinParseError(
        `PEM block ${index + 1} ("${label}", line ${line}): ${e.message}`,
        e.offset,
        { cause: e },
      );
    }
    throw e;
  }
}

function readCsr(der: Uint8Array, index: number): KeyMaterial {
  const csr = expectNode(der, 0, der.length, TAG.SEQUENCE, "a certificate request");
  if (csr.end !== der.length)
    throw new KeypinParseError(`${der.length - csr.end} unexpected bytes after the CSR`, csr.end);
  const outer = childrenOf(der, csr);
  const info = outer[0];
  if (outer.length !== 3 || info?.tag !== TAG.SEQUENCE) {
    throw new KeypinParseError(
      `a CSR is a SEQUENCE of certificationRequestInfo, algorithm and signature (byte ${csr.start})`,
      csr.start,
    );
  }
  const parts = childrenOf(der, info);
  const [version, subject, spki] = parts;
  if (version?.tag !== TAG.INTEGER || !subject || !spki) {
    throw new KeypinParseError(
      `certificationRequestInfo at byte ${info.start} is missing fields`,
      info.start,
    );
  }
  const keyType = keyTypeOf(der, spki);
  return {
    kind: "csr",
    index,
    spki: new Uint8Array(encodingOf(der, spki)),
    keyType,
    subject: readName(der, subject),
  };
}

function readDer(der: Uint8Array, index: number): KeyMaterial {
  const top = readNode(der, 0, der.length);
  if (top.tag !== TAG.SEQUENCE) {
    throw new KeypinParseError(
      `expected DER starting with a SEQUENCE, found ${tagName(top.tag)} (is this PEM or another format?)`,
      0,
    );
  }
  if (top.end !== der.length)
    throw new KeypinParseError(`${der.length - top.end} unexpected bytes after the DER structure`, top.end);
  const parts = childrenOf(der, top);
  const [a, b, c] = parts;
  if (parts.length === 2 && a?.tag === TAG.SEQUENCE && b?.tag === TAG.BIT_STRING) {
    const { spki, keyType } = parseSpki(der);
    return { kind: "public-key", index, spki, keyType };
  }
  if (parts.length === 3 && a?.tag === TAG.SEQUENCE && b?.tag === TAG.SEQUENCE && c?.tag === TAG.BIT_STRING) {
    const inner = childrenOf(der, a);
    const isCsr = inner.length === 4 && inner[0]?.tag === TAG.INTEGER && inner[3]?.tag === 0xa0;
    if (isCsr) return readCsr(der, index);
    const certificate = readCertificate(der, top);
    return { kind: "certificate", index, spki: certificate.spki, keyType: certificate.keyType, certificate };
  }
  if (parts.length === 2 && a?.tag === TAG.SEQUENCE && b?.tag === TAG.OCTET_STRING) {
    return { kind: "private-key", index, der, encrypted: true };
  }
  if (a?.tag === TAG.INTEGER && parts.length >= 3) {
    return { kind: "private-key", index, der, encrypted: false };
  }
  if (parts.length === 2 && a?.tag === TAG.INTEGER && b?.tag === TAG.INTEGER) {
    const spki = rsaPublicKeyToSpki(der);
    return { kind: "public-key", index, spki, keyType: parseSpki(spki).keyType };
  }
  throw new KeypinParseError("DER is not a certificate, SubjectPublicKeyInfo, CSR or private key", 0);
}
