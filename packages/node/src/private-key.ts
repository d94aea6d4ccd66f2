import { createDecipheriv, createPrivateKey, createPublicKey, type KeyObject, pbkdf2Sync } from "node:crypto";
import { decodePem, KeypinError, privateKeyRefusal, readPbes2Aes } from "@keypin/core";

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

/** A key whose load would take unbounded work (a DSA prime, an iteration count), refused before OpenSSL runs. */
class BoundedLoadError extends Error {}

function refuseUnbounded(der: Uint8Array): void {
  let why: string | undefined;
  try {
    why = privateKeyRefusal(der);
  } catch {
    return; // Malformed DER: OpenSSL's decoder refuses it, cheaply.
  }
  if (why !== undefined) throw new BoundedLoadError(why);
}

/**
 * An encrypted PKCS#8 key in OpenSSL's default form (PBES2, PBKDF2, AES-CBC), decrypted here so that the key
 * inside is checked by {@link refuseUnbounded} before OpenSSL loads it; `undefined` for other forms.
 */
function decryptPbes2(der: Uint8Array, passphrase: string): Buffer | undefined {
  const params = readPbes2Aes(der);
  if (params === undefined) return undefined;
  const key = pbkdf2Sync(passphrase, params.salt, params.iterations, params.keyLength, params.digest);
  try {
    const decipher = createDecipheriv(`aes-${params.keyLength * 8}-cbc`, key, params.iv);
    return Buffer.concat([decipher.update(params.ciphertext), decipher.final()]);
  } catch (error) {
    throw Object.assign(new Error("bad decrypt", { cause: error }), { code: "ERR_OSSL_BAD_DECRYPT" });
  } finally {
    key.fill(0);
  }
}

function loadDer(der: Buffer, passphrase: string | undefined): KeyObject {
  refuseUnbounded(der);
  const plain = passphrase === undefined ? undefined : decryptPbes2(der, passphrase);
  if (plain !== undefined) {
    try {
      refuseUnbounded(plain);
      return createPrivateKey({ key: plain, format: "der", type: "pkcs8" });
    } catch (error) {
      if (error instanceof BoundedLoadError) throw error;
      // Decrypted to something that is no key: the passphrase was wrong and the padding happened to hold.
      throw Object.assign(new Error("bad decrypt", { cause: error }), { code: "ERR_OSSL_BAD_DECRYPT" });
    } finally {
      plain.fill(0);
    }
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

function loadPrivateKey(key: string | Uint8Array, passphrase: string | undefined): KeyObject {
  if (typeof key !== "string") {
    const der = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    if (!der.subarray(0, 64).toString("latin1").includes("-----BEGIN")) return loadDer(der, passphrase);
    key = der.toString("utf8");
  }
  let blocks: ReturnType<typeof decodePem> = [];
  try {
    blocks = decodePem(key).filter((b) => /PRIVATE KEY$/.test(b.label));
  } catch {
    // Not PEM that core reads: OpenSSL's decoder refuses it.
  }
  const block = blocks[0];
  if (block !== undefined) {
    if (block.label === "DSA PRIVATE KEY")
      throw new BoundedLoadError("a DSA key: keypin pins RSA, EC and EdDSA keys");
    // A legacy encrypted PEM key ("Proc-Type: 4,ENCRYPTED") holds ciphertext: OpenSSL decrypts it (one MD5).
    if (block.headers === undefined) return loadDer(Buffer.from(block.der), passphrase);
  }
  return createPrivateKey({ key, format: "pem", passphrase });
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
    if (error instanceof BoundedLoadError) {
      throw new KeypinError(
        "ERR_KEYPIN_PRIVATE_KEY",
        `The private key is ${error.message}; it was not loaded, since that would take unbounded work.`,
        { cause: error },
      );
    }
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
