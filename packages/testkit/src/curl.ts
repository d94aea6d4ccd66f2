// curl, an outside client: what a real TLS client accepts (`--pinnedpubkey`, `--cacert`, `--proxy`).
import { type ProcessResult, runProcess } from "./cli.js";

/**
 * Runs `curl --silent --show-error --max-time <maxTimeSeconds> …args` (20 s by default). Asynchronous, so that the
 * servers it talks to can run in this process. `code` is curl's exit status: 0 ok, 60 untrusted certificate, 90
 * pinned key mismatch…
 */
export function curl(
  args: readonly string[],
  options: { maxTimeSeconds?: number } = {},
): Promise<ProcessResult> {
  const maxTime = String(options.maxTimeSeconds ?? 20);
  return runProcess("curl", ["--silent", "--show-error", "--max-time", maxTime, ...args]);
}
