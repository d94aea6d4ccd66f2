import { createPrivateKey, webcrypto } from "node:crypto";
import { mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { computePin, type Pin, parseSpki } from "@keypin/core";
import { sha256 } from "@keypin/node";
import { UsageError } from "../errors.js";
import { describeFsError } from "./read-input.js";

/** Key algorithms `keypin backup` makes. */
export const backupAlgorithms = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"] as const;
/** One of `backupAlgorithms`. */
export type BackupAlgorithm = (typeof backupAlgorithms)[number];

/** What `createBackupKey` wrote. The private key itself is never returned. */
export interface BackupKeyResult {
  pin: Pin;
  keyType: string;
  algorithm: BackupAlgorithm;
  subject: string;
  /** Path of the private key (PKCS#8 PEM, mode 0600). */
  keyFile: string;
  /** Path of the CSR (PKCS#10 PEM). */
  csrFile: string;
  /** True when the key file is encrypted with the passphrase (PKCS#8 EncryptedPrivateKeyInfo, AES-256-CBC). */
  encrypted: boolean;
}

function algorithmParams(algorithm: BackupAlgorithm): {
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
} {
  switch (algorithm) {
    case "ec-p256":
      return {
        generate: { name: "ECDSA", namedCurve: "P-256" },
        sign: { name: "ECDSA", hash: "SHA-256" } as webcrypto.EcdsaParams,
      };
    case "ec-p384":
      return {
        generate: { name: "ECDSA", namedCurve: "P-384" },
        sign: { name: "ECDSA", hash: "SHA-384" } as webcrypto.EcdsaParams,
      };
    case "rsa-2048":
    case "rsa-3072":
    case "rsa-4096":
      return {
        generate: {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: Number(algorithm.slice(4)),
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-256",
        },
        sign: { name: "RSASSA-PKCS1-v1_5" },
      };
    default: {
      const never: never = algorithm;
      throw new UsageError(`unknown algorithm ${String(never)}`);
    }
  }
}

/**
 * Where {@link createBackupKey} writes the key and the CSR of `name` in `dir`.
 *
 * @example
 * backupFilesOf("keys", "keypin-backup").keyFile; // "keys/keypin-backup.key.pem"
 */
export function backupFilesOf(dir: string, name: string): { keyFile: string; csrFile: string } {
  return { keyFile: join(dir, `${name}.key.pem`), csrFile: join(dir, `${name}.csr.pem`) };
}

/**
 * Makes a backup key pair and a CSR for it (signed by the key, with @peculiar/x509), writes the key
 * with mode 0600 and the CSR next to it, never overwriting an existing file (`flag: "wx"`), and returns
 * the pin. With a passphrase, the key is written as encrypted PKCS#8.
 *
 * @example
 * const backup = await createBackupKey({ dir: "keys", name: "api-backup", algorithm: "ec-p256", subject: "CN=api.myapp.com" });
 * console.log(backup.pin);
 */
export async function createBackupKey(options: BackupKeyOptions): Promise<BackupKeyResult> {
  return (await makeBackupKey(options)).write();
}

/** What {@link makeBackupKey} and {@link createBackupKey} take. */
export interface BackupKeyOptions {
  dir: string;
  name: string;
  algorithm: BackupAlgorithm;
  subject: string;
  dnsNames?: string[];
  passphrase?: string;
}

/** A backup key pair made in memory: its pin is known, nothing is on the disk until `write()`. */
export interface MadeBackupKey {
  pin: Pin;
  keyFile: string;
  csrFile: string;
  /** Writes the key (0600) and the CSR, never over an existing file, and returns what was written. */
  write(): BackupKeyResult;
  /** Removes the files `write()` wrote (when the policy that pins the key could not be written). */
  remove(): void;
}

/**
 * Makes the key pair and CSR of {@link createBackupKey} in memory, so that a command can check everything
 * else (`keypin init`: the platforms, the policy file) before the key reaches the disk.
 *
 * @example
 * const made = await makeBackupKey({ dir: "keys", name: "b", algorithm: "ec-p256", subject: "CN=api.myapp.com" });
 * made.pin; // sha256/…; nothing written yet
 * made.write();
 */
export async function makeBackupKey(options: BackupKeyOptions): Promise<MadeBackupKey> {
  const x509 = await import("@peculiar/x509");
  const { keyFile, csrFile } = backupFilesOf(options.dir, options.name);
  let name: InstanceType<typeof x509.Name>;
  try {
    name = new x509.Name(options.subject);
    if (name.toJSON().length === 0) throw new Error("empty name");
  } catch (error) {
    throw new UsageError(
      `--subject "${options.subject}" is not a distinguished name like "CN=api.myapp.com, O=My App"`,
      {
        cause: error,
      },
    );
  }
  const params = algorithmParams(options.algorithm);
  const keys = (await webcrypto.subtle.generateKey(params.generate, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const extensions = [];
  if (options.dnsNames && options.dnsNames.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.dnsNames.map((value) => ({ type: "dns" as const, value })),
      ),
    );
  }
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name, keys: keys as never, signingAlgorithm: params.sign, extensions },
    webcrypto as never,
  );
  const spki = new Uint8Array(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKey = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  pkcs8.fill(0);
  const keyPem =
    options.passphrase === undefined
      ? privateKey.export({ type: "pkcs8", format: "pem" })
      : privateKey.export({
          type: "pkcs8",
          format: "pem",
          cipher: "aes-256-cbc",
          passphrase: options.passphrase,
        });

  const result: BackupKeyResult = {
    pin: computePin(spki, sha256),
    keyType: parseSpki(spki).keyType,
    algorithm: options.algorithm,
    subject: name.toString(),
    keyFile,
    csrFile,
    encrypted: options.passphrase !== undefined,
  };
  const csrPem = csr.toString("pem");
  return {
    pin: result.pin,
    keyFile,
    csrFile,
    write: () => {
      try {
        mkdirSync(options.dir, { recursive: true, mode: 0o700 });
      } catch (error) {
        throw new UsageError(`--out ${options.dir}: cannot create the directory: ${describeFsError(error)}`, {
          cause: error,
        });
      }
      writeNew(keyFile, keyPem, 0o600, "key");
      try {
        writeNew(csrFile, csrPem, 0o644, "CSR");
      } catch (error) {
        // The pair belongs together: do not leave a key without its CSR behind.
        unlinkSync(keyFile);
        throw error;
      }
      return result;
    },
    remove: () => {
      for (const file of [keyFile, csrFile]) {
        try {
          unlinkSync(file);
        } catch {}
      }
    },
  };
}

function writeNew(path: string, content: string | Buffer, mode: number, what: string): void {
  try {
    writeFileSync(path, content, { mode, flag: "wx" });
  } catch (error) {
    const reason = describeFsError(error);
    const advice =
      reason === "already exists" ? "; keypin never overwrites keys: choose another --out or --name" : "";
    throw new UsageError(`${path}: cannot write the ${what}: ${reason}${advice}`, { cause: error });
  }
}
