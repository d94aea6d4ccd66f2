// Certificates built byte by byte, for tests that need exact control over every extension (path-rule graphs,
// malformed or unusual encodings). Signed with node:crypto; P-256 keys by default, made once and reused.
import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";

/** One DER TLV: `tag`, the definite length of `body` (short or long form, up to 2^24 − 1), then `body`. */
export function derTlv(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 255]
          : [0x83, n >> 16, (n >> 8) & 255, n & 255];
  return Uint8Array.from([tag, ...len, ...body]);
}

/** The bytes of `parts`, one after the other. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

const enc = {
  tlv: derTlv,
  seq: (...parts: Uint8Array[]) => enc.tlv(0x30, concatBytes(parts)),
  set: (...parts: Uint8Array[]) => enc.tlv(0x31, concatBytes(parts)),
  int(n: number | bigint): Uint8Array {
    let hex = BigInt(n).toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    let bytes = Buffer.from(hex, "hex");
    if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.of(0), bytes]);
    return enc.tlv(0x02, bytes);
  },
  oid(dotted: string): Uint8Array {
    const arcs = dotted.split(".").map(Number);
    const out = [arcs[0]! * 40 + arcs[1]!];
    for (const arc of arcs.slice(2)) {
      const group = [arc & 0x7f];
      for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) group.unshift((v & 0x7f) | 0x80);
      out.push(...group);
    }
    return enc.tlv(0x06, Uint8Array.from(out));
  },
  bool: (b: boolean) => enc.tlv(0x01, Uint8Array.of(b ? 0xff : 0)),
  octets: (b: Uint8Array) => enc.tlv(0x04, b),
  bits: (b: Uint8Array, unused = 0) => enc.tlv(0x03, concatBytes([Uint8Array.of(unused), b])),
  utf8: (s: string) => enc.tlv(0x0c, Buffer.from(s, "utf8")),
  ia5: (s: string) => Buffer.from(s, "latin1"),
  time(date: Date): Uint8Array {
    const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
    const year = date.getUTCFullYear();
    return year >= 1950 && year < 2050
      ? enc.tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
      : enc.tlv(0x18, Buffer.from(`${iso}Z`));
  },
  ctx: (n: number, body: Uint8Array, constructed = true) => enc.tlv((constructed ? 0xa0 : 0x80) | n, body),
};

/** A key for signing and its SPKI. */
export interface DerKey {
  privateKey: KeyObject;
  spki: Uint8Array;
  /** SHA-1 of the SPKI, a usual subjectKeyIdentifier. */
  keyId: Uint8Array;
}

export function makeKey(): DerKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  return { privateKey, spki, keyId: new Uint8Array(createHash("sha1").update(spki).digest()) };
}

/** What a certificate says; absent fields are absent extensions. */
export interface DerCertSpec {
  serial: number;
  /** Common name of the subject; "" for an empty subject. */
  subject: string;
  issuer: string;
  key: DerKey;
  /** The key that signs (the issuer's). */
  signer: DerKey;
  notBefore: Date;
  notAfter: Date;
  /** Version 1 certificates carry no extensions. */
  v1?: boolean;
  basicConstraints?: { ca: boolean; pathLen?: number; critical?: boolean };
  keyUsage?: ("digitalSignature" | "keyEncipherment" | "keyAgreement" | "keyCertSign" | "cRLSign")[];
  /**
   * Declare this many unused (padding) bits in the keyUsage BIT STRING instead of the DER count: bits set there
   * are padding, not flags (a keyCertSign only in the padding is none, to OpenSSL).
   */
  keyUsageUnusedBits?: number;
  extKeyUsage?: string[];
  dns?: string[];
  /** Permitted and excluded dNSName subtrees. */
  nameConstraints?: { permitted?: string[]; excluded?: string[] };
  subjectKeyId?: Uint8Array | false;
  authorityKeyId?: Uint8Array | false;
  /** An extension with an OID nothing knows, marked critical. */
  unknownCritical?: boolean;
}

const KU_BITS = { digitalSignature: 0, keyEncipherment: 2, keyAgreement: 4, keyCertSign: 5, cRLSign: 6 };

function name(cn: string): Uint8Array {
  if (cn === "") return enc.seq();
  return enc.seq(enc.set(enc.seq(enc.oid("2.5.4.3"), enc.utf8(cn))));
}

function extension(oid: string, value: Uint8Array, critical = false): Uint8Array {
  return critical
    ? enc.seq(enc.oid(oid), enc.bool(true), enc.octets(value))
    : enc.seq(enc.oid(oid), enc.octets(value));
}

/** The DER certificate for `spec`, signed ecdsa-with-SHA256 by `spec.signer`. */
export function buildCertificate(spec: DerCertSpec): Uint8Array {
  const algorithm = enc.seq(enc.oid("1.2.840.10045.4.3.2"));
  const exts: Uint8Array[] = [];
  if (!spec.v1) {
    if (spec.basicConstraints) {
      const { ca, pathLen, critical } = spec.basicConstraints;
      const body = enc.seq(
        ...(ca ? [enc.bool(true)] : []),
        ...(pathLen !== undefined ? [enc.int(pathLen)] : []),
      );
      exts.push(extension("2.5.29.19", body, critical ?? true));
    }
    if (spec.keyUsage) {
      let bits = 0;
      for (const usage of spec.keyUsage) bits |= 0x80 >> KU_BITS[usage];
      const trailing = bits === 0 ? 0 : Math.min(7, 31 - Math.clz32(bits & -bits) - 0);
      const unused = spec.keyUsageUnusedBits ?? (bits === 0 ? 0 : trailing);
      exts.push(extension("2.5.29.15", enc.bits(Uint8Array.of(bits), unused), true));
    }
    if (spec.extKeyUsage) exts.push(extension("2.5.29.37", enc.seq(...spec.extKeyUsage.map(enc.oid))));
    if (spec.dns?.length)
      exts.push(extension("2.5.29.17", enc.seq(...spec.dns.map((d) => enc.ctx(2, enc.ia5(d), false)))));
    if (spec.nameConstraints) {
      const subtrees = (list: string[]) => list.map((d) => enc.seq(enc.ctx(2, enc.ia5(d), false)));
      const parts: Uint8Array[] = [];
      if (spec.nameConstraints.permitted)
        parts.push(enc.ctx(0, concatBytes(subtrees(spec.nameConstraints.permitted))));
      if (spec.nameConstraints.excluded)
        parts.push(enc.ctx(1, concatBytes(subtrees(spec.nameConstraints.excluded))));
      exts.push(extension("2.5.29.30", enc.seq(...parts), true));
    }
    if (spec.subjectKeyId !== false)
      exts.push(extension("2.5.29.14", enc.octets(spec.subjectKeyId ?? spec.key.keyId)));
    if (spec.authorityKeyId !== false)
      exts.push(extension("2.5.29.35", enc.seq(enc.ctx(0, spec.authorityKeyId ?? spec.signer.keyId, false))));
    if (spec.unknownCritical)
      exts.push(extension("1.3.6.1.4.1.55555.1", enc.tlv(0x05, new Uint8Array()), true));
  }
  const tbs = enc.seq(
    ...(spec.v1 ? [] : [enc.ctx(0, enc.int(2))]),
    enc.int(spec.serial),
    algorithm,
    name(spec.issuer),
    enc.seq(enc.time(spec.notBefore), enc.time(spec.notAfter)),
    name(spec.subject),
    spec.key.spki,
    ...(exts.length ? [enc.ctx(3, enc.seq(...exts))] : []),
  );
  const signature = sign("sha256", tbs, { key: spec.signer.privateKey, dsaEncoding: "der" });
  return enc.seq(tbs, algorithm, enc.bits(new Uint8Array(signature)));
}

/** PEM text for DER certificates. */
export function toPem(...ders: Uint8Array[]): string {
  return ders
    .map((der) => {
      const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n");
      return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`;
    })
    .join("");
}
