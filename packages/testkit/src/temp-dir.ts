// Temporary directories that tests remove when done (`using`, or `remove()` in an `after` hook).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TempDir {
  dir: string;
  remove: () => void;
  [Symbol.dispose](): void;
}

/** A fresh directory under the system's temporary directory, named `<prefix>XXXXXX`. */
export function makeTempDir(prefix = "keypin-test-"): TempDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  return { dir, remove, [Symbol.dispose]: remove };
}
