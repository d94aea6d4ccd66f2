// The UTS #46 mapping step (section 4, step 1) with Nontransitional_Processing and UseSTD3ASCIIRules=false, the
// parameters the WHATWG URL standard uses: each code point is kept, mapped or dropped as Unicode's IDNA mapping
// table says (mapping-data.ts, generated from it).
import { RUNS, TEXTS } from "./mapping-data.js";

interface MappingTable {
  /** First code point of each run, ascending. */
  starts: Int32Array;
  /** Last code point of each run. */
  ends: Int32Array;
  /** The step between a run's code points: 1 or 2. */
  steps: Uint8Array;
  /** For a delta run, the distance to the one code point it maps to (for a text run, 0). */
  deltas: Int32Array;
  /** For a text run, its mapping; undefined for a delta run. */
  texts: (string | undefined)[];
}

let table: MappingTable | undefined;

function zigzagDecode(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

/** Decodes RUNS/TEXTS once, at first use (the module has no side effects until then). */
function mappingTable(): MappingTable {
  if (table) return table;
  const tokens = RUNS.split(",").map((t) => Number.parseInt(t, 36));
  const count = tokens.length / 3;
  const t: MappingTable = {
    starts: new Int32Array(count),
    ends: new Int32Array(count),
    steps: new Uint8Array(count),
    deltas: new Int32Array(count),
    texts: new Array<string | undefined>(count),
  };
  let previousEnd = -1;
  let textAt = 0;
  for (let i = 0; i < count; i++) {
    const gap = tokens[i * 3]!;
    const header = tokens[i * 3 + 1]!;
    const value = tokens[i * 3 + 2]!;
    const start = previousEnd + 1 + gap;
    const isText = (header & 1) === 1;
    const step = ((header >> 1) & 1) + 1;
    const runLength = Math.floor(header / 4) + 1;
    t.starts[i] = start;
    t.ends[i] = start + (runLength - 1) * step;
    t.steps[i] = step;
    if (isText) {
      t.texts[i] = TEXTS.slice(textAt, textAt + value);
      textAt += value;
    } else {
      t.deltas[i] = zigzagDecode(value);
    }
    previousEnd = t.ends[i]!;
  }
  table = t;
  return t;
}

/**
 * What the mapping step makes of one code point: its mapping, "" when it is ignored, or undefined when it is
 * kept (valid, deviation or disallowed: the mapping step keeps those; UTS #46 reports disallowed ones as errors
 * later, which keypin leaves to the URL parsers).
 *
 * @example
 * mapCodePoint(0x3a3);  // "σ" (GREEK CAPITAL LETTER SIGMA, whatever precedes it)
 * mapCodePoint(0xad);   // "" (SOFT HYPHEN is ignored)
 * mapCodePoint(0x3c2);  // undefined (final sigma is a deviation, kept)
 */
export function mapCodePoint(codePoint: number): string | undefined {
  if (codePoint < 0x80) {
    return codePoint >= 0x41 && codePoint <= 0x5a ? String.fromCharCode(codePoint + 32) : undefined;
  }
  const t = mappingTable();
  let low = 0;
  let high = t.starts.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (t.starts[mid]! > codePoint) high = mid - 1;
    else if (t.ends[mid]! < codePoint) low = mid + 1;
    else {
      if ((codePoint - t.starts[mid]!) % t.steps[mid]! !== 0) return undefined;
      return t.texts[mid] ?? String.fromCodePoint(codePoint + t.deltas[mid]!);
    }
  }
  return undefined;
}

/**
 * UTS #46 steps 1 and 2, map then normalize to NFC: the Unicode form of a host name that IDNA compares.
 * Linear in the input's length (one table look-up per code point, in a table of fixed size).
 *
 * @example
 * mapHost("ΒΌΛΟΣ.com");  // "βόλοσ.com"
 * mapHost("日本語。ＪＰ"); // "日本語.jp"
 */
export function mapHost(host: string): string {
  const out: string[] = [];
  let keptFrom = 0;
  for (let i = 0; i < host.length; ) {
    const codePoint = host.codePointAt(i)!;
    const width = codePoint > 0xffff ? 2 : 1;
    const mapped = mapCodePoint(codePoint);
    if (mapped !== undefined) {
      if (keptFrom < i) out.push(host.slice(keptFrom, i));
      out.push(mapped);
      keptFrom = i + width;
    }
    i += width;
  }
  if (keptFrom < host.length) out.push(host.slice(keptFrom));
  return out.join("").normalize("NFC");
}
