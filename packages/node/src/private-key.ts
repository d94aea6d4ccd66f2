import * as crypto from "node:crypto";
import {
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  pbkdf2Sync,
  scryptSync,
} from "node:crypto";
import {
  decodePem,
  KeypinError,
  type Pbes2,
  type PemBlock,
  PRIVATE_KEY_LIMITS,
  privateKeyRefusal,
  readPbes2,
  readPkcs12Pbe,
} from "@keypin/core";

function isPassphraseMissing(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return code === "ERR_MISSING_PASSPHRASE" || /interrupted or cancelled/.test(message ?? "");
}

/** PKCS#8 EncryptedPrivateKeyInfo starts SEQUENCE { SEQUENCE (algorithm) …; a plain key SEQUENCE { INTEGER …. */
function looksEncryptedDer(der: Uint8Array): boolean {
  if (der[0] !== 0x30 || der.length < 4) return false;
  const lengthByte = der[1]!;
  const headerLength = lengthByte < 0x80 ? 2 : 2 + (lengthByte & 0x7f);
  return der[headerLength] === 0x30;
}

function looksEncrypted(key: string | Uint8Array): boolean {
  if (typeof key === "string")
    return /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,\s*ENCRYPTED/.test(key);
  const head = Buffer.from(key.buffer, key.byteOffset, Math.min(key.byteLength, 64)).toString("latin1");
  if (head.includes("-----BEGIN")) return looksEncrypted(Buffer.from(key).toString("utf8"));
  return looksEncryptedDer(key);
}

const missingPassphrase = (): Error =>
  Object.assign(new Error("encrypted key without passphrase"), { code: "ERR_MISSING_PASSPHRASE" });

/** A decryption that failed or gave something that is no key: the passphrase is wrong (or the key damaged). */
const badDecrypt = (cause: unknown): Error =>
  Object.assign(new Error("bad decrypt", { cause }), { code: "ERR_OSSL_BAD_DECRYPT" });

function isBadPassphrase(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return (
    code === "ERR_OSSL_BAD_DECRYPT" ||
    code === "ERR_OSSL_EVP_BAD_DECRYPT" ||
    /bad decrypt|maybe wrong password/i.test(message ?? "")
  );
}

/** A key whose load would take unbounded work (a DSA prime, an iteration count), refused before OpenSSL runs. */
class BoundedLoadError extends Error {}

/**
 * An encrypted key in a form keypin does not decrypt itself. OpenSSL would decrypt it and load the key inside
 * unchecked (a DSA key there costs g^x mod p for a modulus of any size), so it is refused rather than passed on.
 */
class UndecryptedFormError extends Error {}

function refuseUnbounded(der: Uint8Array): void {
  let why: string | undefined;
  try {
    why = privateKeyRefusal(der);
  } catch {
    return; // Malformed DER: OpenSSL's decoder refuses it, cheaply.
  }
  if (why !== undefined) throw new BoundedLoadError(why);
}

function decipher(cipher: string, key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  try {
    const d = createDecipheriv(cipher, key, iv);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch (error) {
    throw badDecrypt(error);
  }
}

/** SHA-1 in one call: crypto.hash (Node 20.12) takes half the time of createHash, which older Nodes have. */
const sha1: (data: Buffer) => Buffer =
  typeof (crypto as { hash?: unknown }).hash === "function"
    ? (data) =>
        (crypto as unknown as { hash(a: string, d: Buffer, e: "buffer"): Buffer }).hash(
          "sha1",
          data,
          "buffer",
        )
    : (data) => createHash("sha1").update(data).digest();

/**
 * RFC 7292 appendix B.2's key derivation with SHA-1: `length` bytes of purpose `id` (1 key, 2 IV) from the
 * passphrase as a NUL-terminated BMPString, as OpenSSL derives it for PKCS#12 PBE.
 */
function pkcs12Kdf(
  passphrase: string,
  salt: Uint8Array,
  id: number,
  iterations: number,
  length: number,
): Buffer {
  const v = 64;
  const password = Buffer.from(`${passphrase}\0`, "utf16le").swap16();
  const repeat = (bytes: Uint8Array): Buffer => {
    const out = Buffer.alloc(bytes.length === 0 ? 0 : v * Math.ceil(bytes.length / v));
    for (let i = 0; i < out.length; i++) out[i] = bytes[i % bytes.length]!;
    return out;
  };
  const input = Buffer.concat([repeat(salt), repeat(password)]);
  const diversifier = Buffer.alloc(v, id);
  const blocks: Buffer[] = [];
  try {
    for (let total = 0; total < length; ) {
      let a = sha1(Buffer.concat([diversifier, input]));
      for (let i = 1; i < iterations; i++) a = sha1(a);
      blocks.push(a);
      total += a.length;
      if (total >= length) break;
      // Each v-byte block of the input becomes (block + B + 1) mod 2^(8v), B being a repeated to v bytes.
      const b = repeat(a);
      for (let at = 0; at < input.length; at += v) {
        let carry = 1;
        for (let k = v - 1; k >= 0; k--) {
          const sum = input[at + k]! + b[k]! + carry;
          input[at + k] = sum & 0xff;
          carry = sum >> 8;
        }
      }
      b.fill(0);
    }
    return Buffer.from(Buffer.concat(blocks).subarray(0, length));
  } finally {
    for (const part of [password, input, ...blocks]) part.fill(0);
  }
}

/**
 * An EncryptedPrivateKeyInfo decrypted here, never by OpenSSL, so that the key inside is checked by
 * {@link refuseUnbounded} before it is loaded: PBES2 (PBKDF2 or scrypt, AES-CBC or DES-EDE3-CBC) and PKCS#12
 * PBE with SHA-1 and triple DES; other schemes throw {@link UndecryptedFormError}. The caller has bounded the key derivation with refuseUnbounded.
 */
function decryptPkcs8(der: Uint8Array, passphrase: string): Buffer {
  let params: Pbes2 | undefined;
  let pkcs12: ReturnType<typeof readPkcs12Pbe>;
  try {
    params = readPbes2(der);
    pkcs12 = params === undefined ? readPkcs12Pbe(der) : undefined;
  } catch {
    params = undefined;
  }
  if (pkcs12 !== undefined) {
    const key = pkcs12Kdf(passphrase, pkcs12.salt, 1, pkcs12.iterations, pkcs12.keyLength);
    const iv = pkcs12Kdf(passphrase, pkcs12.salt, 2, pkcs12.iterations, 8);
    try {
      return decipher(pkcs12.cipher, key, iv, pkcs12.ciphertext);
    } finally {
      key.fill(0);
    }
  }
  if (params === undefined)
    throw new UndecryptedFormError(
      "PBES1, PKCS#12 PBE with RC2 or RC4, or PBES2 with a cipher or key derivation other than AES-CBC or DES-EDE3-CBC with PBKDF2 or scrypt",
    );
  const { kdf } = params;
  let key: Buffer;
  try {
    key =
      kdf.name === "pbkdf2"
        ? pbkdf2Sync(passphrase, kdf.salt, kdf.iterations, params.keyLength, kdf.digest)
        : scryptSync(passphrase, kdf.salt, params.keyLength, {
            N: kdf.N,
            r: kdf.r,
            p: kdf.p,
            maxmem: PRIVATE_KEY_LIMITS.scryptMaxmem,
          });
  } catch (error) {
    throw badDecrypt(error); // Parameters the KDF refuses: the key is damaged.
  }
  try {
    return decipher(params.cipher, key, params.iv, params.ciphertext);
  } finally {
    key.fill(0);
  }
}

/** The ciphers of RFC 1421 PEM encryption (DEK-Info) decrypted here, with their key lengths. */
const LEGACY_PEM_CIPHERS: Record<string, { cipher: string; keyLength: number; ivLength: number }> = {
  "AES-128-CBC": { cipher: "aes-128-cbc", keyLength: 16, ivLength: 16 },
  "AES-192-CBC": { cipher: "aes-192-cbc", keyLength: 24, ivLength: 16 },
  "AES-256-CBC": { cipher: "aes-256-cbc", keyLength: 32, ivLength: 16 },
  "DES-EDE3-CBC": { cipher: "des-ede3-cbc", keyLength: 24, ivLength: 8 },
};

/** OpenSSL's EVP_BytesToKey with MD5 and one iteration: the key of a legacy encrypted PEM block. */
function bytesToKey(passphrase: string, salt: Uint8Array, length: number): Buffer {
  const password = Buffer.from(passphrase, "utf8");
  const parts: Buffer[] = [];
  let previous = Buffer.alloc(0);
  let total = 0;
  while (total < length) {
    previous = createHash("md5").update(previous).update(password).update(salt).digest();
    parts.push(previous);
    total += previous.length;
  }
  const all = Buffer.concat(parts);
  const key = Buffer.from(all.subarray(0, length));
  for (const part of [all, ...parts, password]) part.fill(0);
  return key;
}

/** A legacy encrypted PEM key ("Proc-Type: 4,ENCRYPTED", "DEK-Info: CIPHER,IV"), decrypted here. */
function decryptLegacyPem(block: PemBlock, passphrase: string): Buffer {
  const dekInfo = /^([A-Za-z0-9-]+)\s*,\s*([0-9A-Fa-f]+)$/.exec(block.headers?.["DEK-Info"] ?? "");
  const cipher = dekInfo ? LEGACY_PEM_CIPHERS[dekInfo[1]!.toUpperCase()] : undefined;
  if (dekInfo === null || cipher === undefined)
    throw new UndecryptedFormError("legacy PEM encryption with a cipher other than AES-CBC or DES-EDE3-CBC");
  const iv = Buffer.from(dekInfo[2]!, "hex");
  if (dekInfo[2]!.length !== cipher.ivLength * 2)
    throw badDecrypt(new Error("DEK-Info IV of the wrong length"));
  const key = bytesToKey(passphrase, iv.subarray(0, 8), cipher.keyLength);
  try {
    return decipher(cipher.cipher, key, iv, block.der);
  } finally {
    key.fill(0);
  }
}

type DerType = "pkcs8" | "pkcs1" | "sec1";
const DER_TYPES: readonly DerType[] = ["pkcs8", "pkcs1", "sec1"];

/**
 * The DER forms tried for a PEM label, its own first. OpenSSL's decoders try every form whatever the label
 * (a legacy encrypted RSA PRIVATE KEY holding a PKCS#8 key loads), so the others are tried too: each is
 * loaded only after {@link refuseUnbounded} has read it, whichever form it is.
 */
function typesFor(label: string): readonly DerType[] {
  const own: DerType | undefined =
    label === "RSA PRIVATE KEY"
      ? "pkcs1"
      : label === "EC PRIVATE KEY"
        ? "sec1"
        : label === "PRIVATE KEY" || label === "ENCRYPTED PRIVATE KEY"
          ? "pkcs8"
          : undefined;
  return own === undefined ? DER_TYPES : [own, ...DER_TYPES.filter((t) => t !== own)];
}

/** An unencrypted DER key, after {@link refuseUnbounded} has read it, as the first of `types` that fits. */
function loadPlain(der: Buffer, types: readonly DerType[]): KeyObject {
  refuseUnbounded(der);
  let first: unknown;
  for (const type of types) {
    try {
      return createPrivateKey({ key: der, format: "der", type });
    } catch (error) {
      // node:crypto takes DER that does not start SEQUENCE { INTEGER as encrypted: it is no key keypin reads.
      first ??= isPassphraseMissing(error) ? new Error("DER that is no private key") : error;
    }
  }
  throw first;
}

/**
 * Loads a key this module decrypted: checked by {@link refuseUnbounded} first; any other failure means that
 * the passphrase was wrong and the padding happened to hold (about 1 time in 256 for CBC).
 */
function loadDecrypted(plain: Buffer, types: readonly DerType[]): KeyObject {
  try {
    return loadPlain(plain, types);
  } catch (error) {
    if (error instanceof BoundedLoadError) throw error;
    throw badDecrypt(error);
  } finally {
    plain.fill(0);
  }
}

// node:crypto is never given the passphrase: every key it loads was decrypted here and checked first.
function loadDer(der: Buffer, passphrase: string | undefined, types: readonly DerType[]): KeyObject {
  refuseUnbounded(der);
  if (!looksEncryptedDer(der)) return loadPlain(der, types);
  if (passphrase === undefined) throw missingPassphrase();
  // An EncryptedPrivateKeyInfo holds a PrivateKeyInfo.
  return loadDecrypted(decryptPkcs8(der, passphrase), ["pkcs8"]);
}

function loadPrivateKey(key: string | Uint8Array, passphrase: string | undefined): KeyObject {
  if (typeof key !== "string") {
    const der = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    if (!der.subarray(0, 64).toString("latin1").includes("-----BEGIN"))
      return loadDer(der, passphrase, DER_TYPES);
    key = der.toString("utf8");
  }
  let blocks: PemBlock[];
  try {
    blocks = decodePem(key).filter((b) => /PRIVATE KEY$/.test(b.label));
  } catch (error) {
    // PEM that core does not read is not handed to OpenSSL's more lenient reader, which no check would precede.
    throw new Error(`PEM that keypin cannot read (${(error as Error).message})`, { cause: error });
  }
  const block = blocks[0];
  if (block === undefined) throw new Error("no PEM block labelled PRIVATE KEY");
  if (block.label === "DSA PRIVATE KEY")
    throw new BoundedLoadError("a DSA key: keypin pins RSA, EC and EdDSA keys");
  if (/ENCRYPTED/i.test(block.headers?.["Proc-Type"] ?? "")) {
    if (passphrase === undefined) throw missingPassphrase();
    return loadDecrypted(decryptLegacyPem(block, passphrase), typesFor(block.label));
  }
  return loadDer(Buffer.from(block.der), passphrase, typesFor(block.label));
}

/**
 * The DER SubjectPublicKeyInfo of a private key's public half, through node:crypto: feed it to
 * `computePin` to get the pin of a key before any certificate exists (for example a backup key kept offline).
 * Accepts PEM (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8 or legacy encrypted PEM) or DER.
 * Encrypted keys are decrypted here, not by OpenSSL, so that the key inside is checked before it is loaded:
 * PBES2 with PBKDF2 (any HMAC-SHA-1/SHA-2 PRF) or scrypt and AES-128/192/256-CBC or DES-EDE3-CBC, PKCS#12 PBE
 * with SHA-1 and triple DES (OpenSSL 1.0's default), and legacy
 * PEM (`DEK-Info`) with AES-CBC or DES-EDE3-CBC. DSA and Diffie-Hellman keys, RSA moduli over 16,384 bits and
 * key derivations past `PRIVATE_KEY_LIMITS` throw `ERR_KEYPIN_PRIVATE_KEY` before any work on them.
 * An encrypted key without `passphrase` throws KeypinError `ERR_KEYPIN_ENCRYPTED_KEY`; a wrong passphrase
 * `ERR_KEYPIN_BAD_PASSPHRASE`; a key encrypted in any other form (RC2, RC4, single DES, PBES1, other
 * PRFs) `ERR_KEYPIN_KEY_CIPHER`; bytes that are no private key `ERR_KEYPIN_PRIVATE_KEY`. Messages never contain key
 * material.
 *
 * @example
 * import { readFileSync } from "node:fs";
 * import { computePin } from "@keypin/core";
 * import { sha256, spkiOfPrivateKey } from "@keypin/node";
 * const spki = spkiOfPrivateKey(readFileSync("backup.key", "utf8"), { passphrase: process.env.KEY_PASS });
 * console.log(computePin(spki, sha256)); // sha256/…
 */
export function spkiOfPrivateKey(
  key: string | Uint8Array,
  options: { passphrase?: string } = {},
): Uint8Array {
  let privateKey: KeyObject;
  const encrypted = looksEncrypted(key);
  try {
    if (options.passphrase === undefined && encrypted) {
      throw missingPassphrase();
    }
    privateKey = loadPrivateKey(key, options.passphrase);
  } catch (error) {
    if (error instanceof BoundedLoadError) {
      throw new KeypinError(
        "ERR_KEYPIN_PRIVATE_KEY",
        `The private key is ${error.message}; it was not loaded, since that would take unbounded work.`,
        { cause: error },
      );
    }
    if (error instanceof UndecryptedFormError) {
      throw new KeypinError(
        "ERR_KEYPIN_KEY_CIPHER",
        `The private key is encrypted in a form keypin does not decrypt itself (${error.message}), and it is not ` +
          "handed to OpenSSL, which would load the key inside unchecked: " +
          "re-encrypt it with AES, e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc -provider legacy -provider default " +
          "-in old.key -out new.key.",
        { cause: error },
      );
    }
    if (isPassphraseMissing(error)) {
      throw new KeypinError(
        "ERR_KEYPIN_ENCRYPTED_KEY",
        "The private key is encrypted: give its passphrase (the `passphrase` option, or --passphrase on the CLI) " +
          "to compute its pin.",
        { cause: error },
      );
    }
    // A wrong passphrase usually fails the padding check ("bad decrypt"), but about 1 time in 256 the
    // garbage it decrypts to ends in valid padding, and the failure comes from the ASN.1 or key decoder
    // instead. For an encrypted key read with a passphrase, any such failure means the same thing.
    if (isBadPassphrase(error) || (encrypted && options.passphrase !== undefined)) {
      throw new KeypinError(
        "ERR_KEYPIN_BAD_PASSPHRASE",
        "The passphrase does not decrypt this private key (or the key is damaged): check the passphrase and try again.",
        { cause: error },
      );
    }
    throw new KeypinError(
      "ERR_KEYPIN_PRIVATE_KEY",
      "Expected a private key (PEM or DER: PKCS#8, PKCS#1 or SEC1) but node:crypto could not read one: " +
        `${(error as Error).message}.`,
      { cause: error },
    );
  }
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  return new Uint8Array(spki);
}
