import { randomBytes } from "node:crypto";
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { codeOf, UsageError } from "../errors.js";
import { inputFiles } from "./read-input.js";

/** Where `path` writes: the file a symbolic link (or a chain of them) points to, else `path` itself. */
function targetOf(path: string): string {
  let current = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let link: Stats;
    try {
      link = lstatSync(current);
    } catch {
      break;
    }
    if (!link.isSymbolicLink()) break;
    current = resolve(dirname(current), readlinkSync(current));
  }
  try {
    return join(realpathSync(dirname(current)), basename(current));
  } catch {
    return current;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Whether writing `a` and writing `b` would write the same file (links followed; either may not exist yet):
 * for an output that a command will create itself, such as the backup key `init --generate-backup` writes.
 *
 * @example
 * writesSameFile("keys/keypin-backup.key.pem", "./keys/../keys/keypin-backup.key.pem"); // true
 */
export function writesSameFile(a: string, b: string): boolean {
  const [ta, tb] = [targetOf(a), targetOf(b)];
  if (ta === tb) return true;
  const [sa, sb] = [statOrUndefined(ta), statOrUndefined(tb)];
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}

/**
 * Refuses (a `UsageError`, exit 2) an output path that is, or points to, a file this command read as an input
 * (the same device and inode when it exists, else the same real path): writing it would destroy that input.
 * `replaces` names an input the output is meant to update (`keypin import --merge` rewrites its keypin.json).
 * Call it for every output before writing the first one, so that a refused run writes nothing.
 *
 * @example
 * refuseOutputOverInput("keypin.json"); // throws after readPolicy("keypin.json")
 */
export function refuseOutputOverInput(path: string, options: { replaces?: string } = {}): void {
  const target = targetOf(path);
  const stats = statOrUndefined(target);
  const allowed = options.replaces === undefined ? undefined : statOrUndefined(options.replaces);
  for (const input of inputFiles()) {
    if (allowed && input.dev === allowed.dev && input.ino === allowed.ino) continue;
    const same = stats
      ? stats.dev === input.dev && stats.ino === input.ino
      : input.real !== undefined && input.real === target;
    if (same) {
      const what = input.path === "-" ? "stdin" : input.path;
      throw new UsageError(
        `${path} is ${what === path ? "" : `the same file as ${what}, `}an input of this command: writing it would destroy that input, so nothing was written; write to another path`,
      );
    }
  }
}

/**
 * Writes an output file whole or not at all: the content goes to a new temporary file next to the target
 * (created exclusively, so no other file is touched), is flushed to the disk (fsync), then renamed over the
 * target. If anything fails (a full disk, `ulimit -f`, a signal), the temporary file is removed and the old
 * file, if any, is left as it was. A symbolic link is followed: the file it points to is replaced, the link
 * stays. The new file keeps the old file's permissions, or gets `mode` (less the umask) when it is new, as
 * `writeFileSync` would. An output that is an input of the command is refused first
 * ({@link refuseOutputOverInput}). File-system errors are thrown as they are (with their `code`), for the
 * command to word.
 *
 * @example
 * writeOutputFile("network_security_config.xml", xml, { createParents: true });
 */
export function writeOutputFile(
  path: string,
  content: string | Uint8Array,
  options: { mode?: number; createParents?: boolean; replaces?: string } = {},
): void {
  refuseOutputOverInput(path, options.replaces === undefined ? {} : { replaces: options.replaces });
  const target = targetOf(path);
  if (options.createParents) mkdirSync(dirname(target), { recursive: true });
  const old = statOrUndefined(target);
  if (old?.isDirectory()) {
    throw Object.assign(new Error(`EISDIR: illegal operation on a directory, open '${path}'`), {
      code: "EISDIR",
    });
  }
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.keypin-tmp`);
  const fd = openSync(temp, "wx", options.mode ?? 0o666);
  let done = false;
  try {
    if (old?.isFile()) fchmodSync(fd, old.mode & 0o7777);
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    done = true;
    renameSync(temp, target);
  } catch (error) {
    if (!done) {
      try {
        closeSync(fd);
      } catch {}
    }
    try {
      unlinkSync(temp);
    } catch {}
    throw error;
  }
  syncDirectory(dirname(target));
}

/** Flushes a rename to the disk (best effort: some systems cannot open a directory). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch (error) {
    if (codeOf(error) === undefined) throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
