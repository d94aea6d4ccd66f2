import { computePin, encodePem, type KeyMaterial, type Pin, parseSpki, readKeyMaterial } from "@keypin/core";
import { sha256, spkiOfPrivateKey } from "@keypin/node";
import { singleString } from "../args.js";
import { defineCommand } from "../command.js";
import { codeOf, UsageError } from "../errors.js";
import { readInput, readPassphraseFile } from "../lib/read-input.js";
import { colorsFor, formatTable, printJson, printLines } from "../output.js";

/** One line of `keypin hash --json`. */
export interface HashEntry {
  /** The file as given, `-` for stdin. */
  file: string;
  /** Position of the entry in the file (0 for the first PEM block, or for DER). */
  index: number;
  kind: KeyMaterial["kind"];
  /** Certificate or CSR subject. */
  subject?: string;
  keyType: string;
  pin: Pin;
}

const expected = "certificate, public key, private key or CSR in PEM or DER";

/**
 * The pins of every certificate, public key, private key and CSR in one input.
 * Private keys are turned into their public half with node:crypto; an encrypted one needs a passphrase.
 *
 * @example
 * hashInput("cert.pem", readFileSync("cert.pem")); // [{ file: "cert.pem", index: 0, kind: "certificate", … }]
 */
export function hashInput(file: string, bytes: Uint8Array, passphrase?: string): HashEntry[] {
  const name = file === "-" ? "stdin" : file;
  let materials: KeyMaterial[];
  try {
    materials = readKeyMaterial(bytes);
  } catch (error) {
    const offset = (error as { offset?: unknown }).offset;
    const message = error instanceof Error ? error.message : String(error);
    if (looksLikeText(bytes) && !new TextDecoder().decode(bytes).includes("-----BEGIN")) {
      throw new UsageError(`${name}: neither PEM (no "-----BEGIN" line) nor DER; expected a ${expected}`, {
        cause: error,
      });
    }
    const where =
      typeof offset === "number" && offset > 0 && !/\b(byte|line)\b/.test(message)
        ? ` (at byte ${offset})`
        : "";
    throw new UsageError(`${name}: ${message}${where}; expected a ${expected}`, { cause: error });
  }
  if (materials.length === 0) throw new UsageError(`${name}: no key material found; expected a ${expected}`);
  return materials.map((material): HashEntry => {
    switch (material.kind) {
      case "certificate":
        return {
          file,
          index: material.index,
          kind: material.kind,
          subject: material.certificate.subject,
          keyType: material.keyType,
          pin: computePin(material.spki, sha256),
        };
      case "csr":
        return {
          file,
          index: material.index,
          kind: material.kind,
          subject: material.subject,
          keyType: material.keyType,
          pin: computePin(material.spki, sha256),
        };
      case "public-key":
        return {
          file,
          index: material.index,
          kind: material.kind,
          keyType: material.keyType,
          pin: computePin(material.spki, sha256),
        };
      case "private-key": {
        if (material.encrypted && passphrase === undefined) {
          throw new UsageError(
            `${name}: entry ${material.index} is an encrypted private key; pass --passphrase-file FILE, or hash its certificate or public key instead`,
          );
        }
        // A legacy encrypted PEM key keeps its cipher in the PEM headers: spkiOfPrivateKey needs the block back.
        const key = material.pem
          ? encodePem(material.der, material.pem.label, material.pem.headers)
          : material.der;
        let spki: Uint8Array;
        try {
          spki = spkiOfPrivateKey(key, material.encrypted ? { passphrase } : {});
        } catch (error) {
          throw new UsageError(`${name}: entry ${material.index} ${privateKeyProblem(error)}`, {
            cause: error,
          });
        }
        return {
          file,
          index: material.index,
          kind: material.kind,
          keyType: parseSpki(spki).keyType,
          pin: computePin(spki, sha256),
        };
      }
      default: {
        const never: never = material;
        throw new Error(`unexpected key material ${JSON.stringify(never)}`);
      }
    }
  });
}

/** Why spkiOfPrivateKey could not read a private key, as the end of "entry N …". */
function privateKeyProblem(error: unknown): string {
  switch (codeOf(error)) {
    case "ERR_KEYPIN_BAD_PASSPHRASE":
      return "is a private key that the passphrase does not decrypt; check the passphrase file";
    case "ERR_KEYPIN_KEY_CIPHER":
      return "is a private key encrypted in a form keypin does not decrypt itself (RC2, RC4, single DES, PBES1, or a cipher or PRF other than AES-CBC, triple DES and HMAC-SHA-1/SHA-2), and it is not handed to OpenSSL unchecked; re-encrypt it with: openssl pkcs8 -topk8 -v2 aes-256-cbc -provider legacy -provider default -in KEY -out NEW";
    default: {
      const inner = (error as { cause?: unknown }).cause;
      const cause = codeOf(inner);
      // Refused before loading (a DSA key, an RSA modulus or an iteration count past keypin's bounds): say why.
      if (cause === undefined && inner instanceof Error && inner.message !== "")
        return `is ${inner.message}; it was not loaded`;
      return `is a private key that node:crypto cannot read (${cause ?? "unsupported key"})`;
    }
  }
}

/**
 * The `keypin hash` command (loaded lazily by main.ts; see `keypin help hash` and the README).
 *
 * @example
 * keypin hash cert.pem
 */
export default defineCommand({
  meta: { name: "hash" },
  usage: "[options] <file…|->",
  args: {
    json: {
      type: "boolean",
      description: "print one JSON array: [{ file, index, kind, subject?, keyType, pin }]",
    },
    "passphrase-file": {
      type: "string",
      valueHint: "FILE",
      description: "passphrase (first line of FILE) for encrypted private keys",
    },
  },
  exitCodes: {
    0: "every input was read and hashed",
    2: "a file is missing, empty, not PEM/DER, truncated, or an encrypted key without --passphrase-file",
  },
  examples: [
    "keypin hash server.crt",
    "keypin hash chain.pem backup.key.pem backup.csr",
    "openssl s_client -connect example.com:443 -showcerts </dev/null | keypin hash -",
  ],
  run({ args }) {
    const files = args._;
    if (files.length === 0) {
      throw new UsageError("`keypin hash` needs at least one file, or - for stdin (see `keypin help hash`)");
    }
    if (files.filter((f) => f === "-").length > 1)
      throw new UsageError("`keypin hash` reads stdin (-) only once");
    const passphraseFile = singleString(args["passphrase-file"], "--passphrase-file", "keypin hash");
    const passphrase = passphraseFile === undefined ? undefined : readPassphraseFile(passphraseFile);
    const entries = files.flatMap((file) => hashInput(file, readInput(file, expected), passphrase));
    if (args.json) {
      printJson(entries);
      return;
    }
    const c = colorsFor(process.stdout);
    const rows = entries.map((e) => [
      c.dim(
        `${e.file === "-" ? "stdin" : e.file}${entries.filter((x) => x.file === e.file).length > 1 ? `#${e.index}` : ""}`,
      ),
      e.kind,
      e.keyType,
      c.green(e.pin),
      e.subject ?? "",
    ]);
    printLines(formatTable(rows));
  },
});

function looksLikeText(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 512);
  return sample.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));
}
