import picocolors from "picocolors";
import { printable, terminalLine } from "./lib/printable.js";

/** Picocolors' formatters (colored, or plain identity functions). */
export type Colors = ReturnType<typeof picocolors.createColors>;

/**
 * Turns colors off for the rest of the process (`--no-color`), whatever the terminal says. It sets
 * `NO_COLOR` rather than a variable of this module: each command is bundled with its own copy of it.
 *
 * @example
 * disableColors();
 */
export function disableColors(): void {
  process.env.NO_COLOR = "1";
}

/**
 * Colors for a stream: on only when it is a terminal, `NO_COLOR` is unset (or empty) and `TERM` is not
 * `dumb`; `FORCE_COLOR` (non-empty, not "0") turns them on anyway; `--no-color` turns them off.
 *
 * @example
 * const c = colorsFor(process.stdout);
 * process.stdout.write(c.green("ok") + "\n");
 */
export function colorsFor(stream: { isTTY?: boolean }): Colors {
  return picocolors.createColors(colorsEnabled(stream));
}

function colorsEnabled(stream: { isTTY?: boolean }): boolean {
  const env = process.env;
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}

const ansi = /\u001b\[[0-9;]*m/g;

/**
 * The width of a string as shown on a terminal (ANSI color codes take no room).
 *
 * @example
 * visibleLength("\u001b[32mok\u001b[39m"); // 2
 */
export function visibleLength(text: string): number {
  return text.replace(ansi, "").length;
}

/**
 * A count and its noun, singular for one: the one place the CLI's output says "1 host", "2 hosts".
 * `plural` is for nouns that do not just take an "s".
 *
 * @example
 * formatCount(1, "domain"); // "1 domain"
 * formatCount(3, "certificate"); // "3 certificates"
 * formatCount(2, "entry", "entries"); // "2 entries"
 */
export function formatCount(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/**
 * Lines with aligned columns: every column but the last is padded to its widest cell.
 *
 * @example
 * formatTable([["leaf", "CN=a"], ["intermediate", "CN=b"]], "  ");
 * // ["  leaf          CN=a", "  intermediate  CN=b"]
 */
export function formatTable(rows: readonly (readonly string[])[], indent = ""): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, i) =>
          i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visibleLength(cell)),
        )
        .join("  ")
        .trimEnd(),
  );
}

/**
 * Writes exactly one JSON document (and a newline) to stdout.
 *
 * @example
 * printJson({ ok: true });
 */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A line as it may be written to `stream`: with colors on, the CLI's color sequences stay and every other
 * control character is escaped (`terminalLine`); with colors off (a pipe, a file, `NO_COLOR`), every control
 * character is (`printable`). Lines carry peer and file text (hosts, subjects, URLs, file names), so that no
 * peer can move the cursor, erase a line, set the title or add a line of its own.
 *
 * @example
 * safeLine("ok \x1b]0;title\x07", process.stdout); // "ok \\x1b]0;title\\x07"
 */
export function safeLine(line: string, stream: { isTTY?: boolean }): string {
  return colorsEnabled(stream) ? terminalLine(line) : printable(line);
}

/**
 * Writes lines to a stream, each one through `safeLine`: every line the CLI prints goes this way.
 *
 * @example
 * writeLines(process.stderr, [`warning: ${message}`]);
 */
export function writeLines(
  stream: { isTTY?: boolean; write: (text: string) => unknown },
  lines: readonly string[],
): void {
  if (lines.length > 0) stream.write(`${lines.map((line) => safeLine(line, stream)).join("\n")}\n`);
}

/**
 * Writes lines to stdout (through `safeLine`).
 *
 * @example
 * printLines(["one", "two"]);
 */
export function printLines(lines: readonly string[]): void {
  writeLines(process.stdout, lines);
}

/**
 * Writes one line to stderr (through `safeLine`): warnings, notes, progress words.
 *
 * @example
 * printError(`warning: ${file}: ${message}`);
 */
export function printError(line: string): void {
  writeLines(process.stderr, [line]);
}
