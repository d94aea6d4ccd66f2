import { readFileSync } from "node:fs";
import { codeOf, UsageError } from "../errors.js";

/**
 * Reads a whole input file, or stdin for `-`, as bytes. Missing, unreadable, directory and empty
 * inputs are `UsageError`s (exit 2) that name the file and say what to do.
 *
 * @example
 * const bytes = readInput("cert.pem", "certificate, key or CSR (PEM or DER)");
 */
export function readInput(path: string, expected: string): Uint8Array {
  const name = path === "-" ? "stdin" : path;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path === "-" ? 0 : path);
  } catch (error) {
    throw new UsageError(`${name}: ${describeFsError(error)} (expected a ${expected})`, { cause: error });
  }
  if (bytes.length === 0) throw new UsageError(`${name}: the file is empty (expected a ${expected})`);
  return bytes;
}

/**
 * Reads a text file (UTF-8), e.g. a passphrase file or a CA bundle, with the same errors as `readInput`.
 *
 * @example
 * const pem = readTextInput("ca.pem", "CA certificate in PEM");
 */
export function readTextInput(path: string, expected: string): string {
  return new TextDecoder().decode(readInput(path, expected));
}

/**
 * A short phrase for a file-system error: "no such file", "permission denied", "is a directory".
 *
 * @example
 * describeFsError(Object.assign(new Error(), { code: "ENOENT" })); // "no such file"
 */
export function describeFsError(error: unknown): string {
  switch (codeOf(error)) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory, not a file";
    case "EEXIST":
      return "already exists";
    case "ENOTDIR":
      return "a parent of this path is not a directory";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/**
 * The passphrase in a passphrase file: its first line, without the line ending (like openssl's `file:`).
 *
 * @example
 * readPassphraseFile("pass.txt"); // "s3cret"
 */
export function readPassphraseFile(path: string): string {
  return readTextInput(path, "passphrase file").split(/\r?\n/)[0] ?? "";
}
