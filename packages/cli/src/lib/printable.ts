// The CLI's copy of @keypin/audit's `printable` (packages/audit/src/host.ts). Importing @keypin/audit here would
// load the audit proxy and its dependencies into every command's start-up (about 200 ms on `keypin hash`,
// BENCHMARKS.md target 6), so the function is repeated, and printable.test.ts checks that both give the same
// text for every code point.

const unprintable = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * Text from a peer or a file (a host, a status line, a URL, a file name), safe to print on a terminal: every
 * control character (C0, DEL, C1), and the Unicode line and paragraph separators and bidirectional controls
 * that can reorder or split what a terminal shows, as a visible escape (`\x1b`, `\u202e`). Printable text,
 * non-ASCII letters included, stays as it is, and escaping twice changes nothing.
 *
 * @example
 * printable("a\x1b[2Kb\n"); // "a\\x1b[2Kb\\x0a"
 */
export function printable(text: string): string {
  return text.replace(unprintable, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

// The color sequences picocolors writes (SGR: `ESC [ n m`), the only escape sequences the CLI itself prints.
const sgr = /\x1b\[[0-9]{1,3}m/g;

/**
 * A line for the terminal: `printable` for everything but the CLI's own colors (picocolors' `ESC [ n m`), so
 * a line built from peer or file text can neither move the cursor, erase a line, set a window title, nor
 * break into two lines. A color sequence inside peer text can only change colors; where a command colors a
 * line, it passes peer text through `printable` first.
 *
 * @example
 * terminalLine("\x1b[32mok\x1b[39m \x1b]0;title\x07"); // "\x1b[32mok\x1b[39m \\x1b]0;title\\x07"
 */
export function terminalLine(line: string): string {
  let out = "";
  let last = 0;
  for (const match of line.matchAll(sgr)) {
    out += printable(line.slice(last, match.index)) + match[0];
    last = match.index + match[0].length;
  }
  return out + printable(line.slice(last));
}
