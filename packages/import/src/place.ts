// Places (file:line) and line numbers from character offsets.
import type { Place } from "./types.js";

/**
 * A place as `file:line`, `file (key/path)` for a binary plist, or the file alone.
 *
 * @example
 * ```ts
 * formatPlace({ file: "Info.plist", line: 7 }); // "Info.plist:7"
 * ```
 */
export function formatPlace(place: Place): string {
  if (place.line !== undefined) return `${place.file}:${place.line}`;
  if (place.keyPath !== undefined) return `${place.file} (${place.keyPath})`;
  return place.file;
}

/** Maps character offsets of a text to 1-based line numbers (LF, CRLF and lone CR end lines). */
export function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10 || (ch === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1);
  }
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}
