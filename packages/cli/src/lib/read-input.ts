import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, type Stats } from "node:fs";
import { codeOf, isCliError, UsageError } from "../errors.js";

/**
 * The most bytes keypin reads from one input (a policy, a chain, a certificate, a key, a file to import, a CA
 * bundle, an ARI document, stdin): 16 MiB, far above any real one (a keypin.json of 10,000 domains is about
 * 3 MiB), so that `/dev/zero` or a runaway file cannot fill the memory. A larger input is refused.
 */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/** An input file as the file system knows it, to tell when an output would overwrite it. */
interface InputIdentity {
  path: string;
  dev: number;
  ino: number;
  real?: string;
}

// Every file this process has read as an input, so that an output never replaces one (see write-output.ts).
// A process runs one command, so this is that command's inputs.
const inputsRead: InputIdentity[] = [];

/**
 * The input files read so far by this command (stdin too when it is a file), with their device and inode.
 *
 * @example
 * inputFiles().some((input) => input.ino === statSync("keypin.json").ino);
 */
export function inputFiles(): readonly InputIdentity[] {
  return inputsRead;
}

/**
 * Records `path` as an input of this command without reading it (a file another package reads, such as the
 * audit CA's key), so that no output replaces it. A path that does not exist is no input.
 *
 * @example
 * noteInput(ca.certPath);
 */
export function noteInput(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | nonBlocking);
  } catch {
    return;
  }
  try {
    remember(path, fstatSync(fd));
  } finally {
    closeSync(fd);
  }
}

function remember(path: string, stats: Stats): void {
  let real: string | undefined;
  try {
    real = path === "-" ? undefined : realpathSync(path);
  } catch {
    real = undefined;
  }
  inputsRead.push({ path, dev: stats.dev, ino: stats.ino, ...(real !== undefined ? { real } : {}) });
}

// Opening a FIFO for reading blocks until a writer comes; O_NONBLOCK returns at once, and fstat then tells
// what it is. (It has no effect on regular files; Windows has no such flag and no FIFOs in the file system.)
const nonBlocking = constants.O_NONBLOCK ?? 0;

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return "is a directory, not a file";
  if (stats.isFIFO()) return "is a FIFO (named pipe), not a regular file";
  if (stats.isCharacterDevice()) return "is a character device, not a regular file";
  if (stats.isBlockDevice()) return "is a block device, not a regular file";
  if (stats.isSocket()) return "is a socket, not a regular file";
  return "is not a regular file";
}

function tooLarge(): string {
  return `is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MiB, the most keypin reads from one input`;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Reads `fd` to its end, or to one byte past the cap; `null` when the input is larger than the cap. */
function readCapped(fd: number, sizeHint: number): Uint8Array | null {
  let buffer = Buffer.allocUnsafe(Math.min(Math.max(sizeHint, 64 * 1024) + 1, MAX_INPUT_BYTES + 1));
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length > MAX_INPUT_BYTES) return null;
      const grown = Buffer.allocUnsafe(Math.min(buffer.length * 2, MAX_INPUT_BYTES + 1));
      buffer.copy(grown, 0, 0, length);
      buffer = grown;
    }
    let n: number;
    try {
      n = readSync(fd, buffer, length, buffer.length - length, null);
    } catch (error) {
      // stdin may be a non-blocking pipe (a parent set it so): wait for data instead of failing.
      if (codeOf(error) === "EAGAIN") {
        Atomics.wait(sleeper, 0, 0, 10);
        continue;
      }
      throw error;
    }
    if (n === 0) break;
    length += n;
    if (length > MAX_INPUT_BYTES) return null;
  }
  return buffer.subarray(0, length);
}

/**
 * Reads a whole input file, or stdin for `-`, as bytes: the one way the CLI reads an input. A file must be a
 * regular file (a FIFO, a device such as /dev/zero, a socket or a directory is refused before anything is
 * read, so nothing blocks or fills the memory); stdin may be anything. Both are read up to
 * {@link MAX_INPUT_BYTES}, and a larger input is refused. Missing, unreadable, non-regular, too large and
 * empty inputs (unless `allowEmpty`) are `UsageError`s (exit 2) on one line that names the file and says what was expected.
 * The file is remembered as an input of this command, so that no output of it replaces the file.
 *
 * @example
 * const bytes = readInput("cert.pem", "certificate, key or CSR (PEM or DER)");
 */
export function readInput(
  path: string,
  expected: string,
  options: { allowEmpty?: boolean } = {},
): Uint8Array {
  const name = path === "-" ? "stdin" : path;
  const refuse = (why: string, cause?: unknown): never => {
    throw new UsageError(`${name}: ${why} (expected a ${expected})`, cause === undefined ? {} : { cause });
  };
  let fd: number;
  try {
    fd = path === "-" ? 0 : openSync(path, constants.O_RDONLY | nonBlocking);
  } catch (error) {
    return refuse(describeFsError(error), error);
  }
  let bytes: Uint8Array | null;
  try {
    let stats: Stats | undefined;
    try {
      stats = fstatSync(fd);
    } catch (error) {
      if (path !== "-") throw error;
    }
    if (path !== "-" && stats && !stats.isFile()) refuse(kindOf(stats));
    if (stats?.isFile()) {
      if (stats.size > MAX_INPUT_BYTES) refuse(tooLarge());
      remember(path, stats);
    }
    bytes = readCapped(fd, stats?.isFile() ? stats.size : 0);
  } catch (error) {
    if (isCliError(error)) throw error;
    return refuse(describeFsError(error), error);
  } finally {
    if (path !== "-") closeSync(fd);
  }
  if (bytes === null) return refuse(tooLarge());
  if (bytes.length === 0 && !options.allowEmpty) refuse("the file is empty");
  return bytes;
}

/**
 * Reads a text file (UTF-8), e.g. a passphrase file or a CA bundle, with the same checks and errors as
 * `readInput`.
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
    case "EFBIG":
      return "file too large for this process's file size limit (ulimit -f)";
    case "ENOSPC":
      return "no space left on the device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EROFS":
      return "read-only file system";
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
