import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";

/**
 * SHA-256 with node:crypto, in the shape `@keypin/core` takes (`Sha256`). Kept here rather than imported
 * from `@keypin/node` so that `keypin hash` does not load undici at start-up.
 *
 * @example
 * computePin(spki, sha256);
 */
export function sha256(data: Uint8Array): Uint8Array {
  return createHash("sha256").update(data).digest();
}

/**
 * The DER SubjectPublicKeyInfo of a private key given as DER (PKCS#8, encrypted PKCS#8 with a passphrase,
 * PKCS#1 RSA or SEC1 EC). node:crypto derives the public half; the private key never leaves this function.
 * Throws node:crypto's error when no format fits (the caller turns it into a message).
 *
 * @example
 * const spki = spkiOfPrivateKeyDer(block.der);
 */
export function spkiOfPrivateKeyDer(
  der: Uint8Array,
  options: { encrypted?: boolean; passphrase?: string } = {},
): Uint8Array {
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  let privateKey: KeyObject | undefined;
  let lastError: unknown;
  const attempts: Parameters<typeof createPrivateKey>[0][] = options.encrypted
    ? [{ key, format: "der", type: "pkcs8", passphrase: options.passphrase ?? "" }]
    : [
        { key, format: "der", type: "pkcs8" },
        { key, format: "der", type: "pkcs1" },
        { key, format: "der", type: "sec1" },
      ];
  for (const attempt of attempts) {
    try {
      privateKey = createPrivateKey(attempt);
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (!privateKey) throw lastError;
  return createPublicKey(privateKey).export({ type: "spki", format: "der" });
}
