import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { KeypinError } from "@keypin/core";

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

function isBadPassphrase(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return (
    code === "ERR_OSSL_BAD_DECRYPT" ||
    code === "ERR_OSSL_EVP_BAD_DECRYPT" ||
    /bad decrypt|maybe wrong password/i.test(message ?? "")
  );
}

/** OpenSSL 3 without its legacy provider cannot run the key's cipher (RC2, DES, PBES1 with MD5…). */
function isCipherUnavailable(error: unknown): boolean {
  return (error as { code?: string }).code === "ERR_OSSL_EVP_UNSUPPORTED";
}

function loadPrivateKey(key: string | Uint8Array, passphrase: string | undefined): KeyObject {
  if (typeof key === "string") return createPrivateKey({ key, format: "pem", passphrase });
  const der = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (der.subarray(0, 64).toString("latin1").includes("-----BEGIN")) {
    return createPrivateKey({ key: der.toString("utf8"), format: "pem", passphrase });
  }
  let first: unknown;
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    try {
      return createPrivateKey({ key: der, format: "der", type, passphrase });
    } catch (error) {
      if (isPassphraseMissing(error) || isBadPassphrase(error)) throw error;
      first ??= error;
    }
  }
  throw first;
}

/**
 * The DER SubjectPublicKeyInfo of a private key's public half, through node:crypto: feed it to
 * `computePin` to get the pin of a key before any certificate exists (for example a backup key kept offline).
 * Accepts PEM (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8 or legacy encrypted PEM) or DER.
 * An encrypted key without `passphrase` throws KeypinError `ERR_KEYPIN_ENCRYPTED_KEY`; a wrong passphrase
 * `ERR_KEYPIN_BAD_PASSPHRASE`; a key encrypted with a legacy cipher OpenSSL 3 no longer runs by default
 * `ERR_KEYPIN_KEY_CIPHER`; bytes that are no private key `ERR_KEYPIN_PRIVATE_KEY`. Messages never contain key
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
      throw Object.assign(new Error("encrypted key without passphrase"), { code: "ERR_MISSING_PASSPHRASE" });
    }
    privateKey = loadPrivateKey(key, options.passphrase);
  } catch (error) {
    if (encrypted && isCipherUnavailable(error)) {
      throw new KeypinError(
        "ERR_KEYPIN_KEY_CIPHER",
        "The private key is encrypted with a legacy cipher node:crypto cannot run (RC2, DES or PBES1): " +
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
