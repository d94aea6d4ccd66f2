// Java source through java-parser (the parser of prettier-java): the file must parse as Java; its tokens
// (comments dropped) feed the same CertificatePinner reader as Kotlin's. Unicode escapes (\uXXXX) are
// translated first, everywhere in the file, as javac does (JLS 3.3): java-parser does not, and a
// `\u000a` ending a // comment or a `\u002a/` ending a /* comment changes which calls are code.
import { lexAndParse } from "java-parser";
import { ImportError } from "../errors.js";
import type { Place } from "../types.js";
import type { Token } from "./tokens.js";

const javaEscapes: Record<string, string> = {
  b: "\b",
  t: "\t",
  n: "\n",
  f: "\f",
  r: "\r",
  s: " ",
  '"': '"',
  "'": "'",
  "\\": "\\",
};

/**
 * The value of a Java string literal (with its quotes), escapes decoded (JLS 3.10.7). Unicode escapes are
 * already translated, so a `\u` left here came from a translated backslash (`\u005cu0041`), which javac
 * refuses as an illegal escape: so does keypin.
 */
function unescapeJava(image: string, place: () => Place): string {
  const body = image.slice(1, -1);
  return body.replace(/\\([0-3][0-7]{2}|[0-7]{1,2}|[\s\S])/g, (_, e: string) => {
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    const decoded = javaEscapes[e];
    if (decoded === undefined)
      throw new ImportError(
        place(),
        `not readable as Java: the string ${JSON.stringify(image.slice(0, 40))} has the escape \\${e}, which javac refuses`,
      );
    return decoded;
  });
}

/** A Java identifier (Character.isJavaIdentifierStart, then …Part): `HO\u0053T` and `café` are names. */
const javaIdentifier = /^[\p{L}\p{Nl}\p{Sc}\p{Pc}][\p{L}\p{Nl}\p{Sc}\p{Pc}\p{Nd}\p{Mn}\p{Mc}]*$/u;

/** Java source with its Unicode escapes translated, and the way back to the lines of the file as written. */
export interface TranslatedJava {
  text: string;
  /** The 1-based line, in the file as written, of an offset of `text`. */
  lineAt(offset: number): number;
}

/** The offsets where lines start (after \n, \r\n or \r, Java's line terminators). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1);
  }
  return starts;
}

/** The index of the last element of the ascending `xs` that is at most `x` (0 when none is). */
function lastAtMost(xs: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (xs[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Translates Java's Unicode escapes (JLS 3.3): a backslash preceded by an even number of contiguous
 * backslashes, one or more `u`, four hex digits. The character an escape produces takes part in no other
 * escape (`\u005cu0041` is a backslash, then `u0041`). A `\u` without four hex digits is an
 * {@link ImportError}, as it is a compile-time error for javac, in comments too.
 */
export function translateUnicodeEscapes(text: string, file: string): TranslatedJava {
  const original = lineStarts(text);
  const originalLine = (offset: number) => lastAtMost(original, offset) + 1;
  // For each escape: where its character is in the translated text, where the escape starts and ends in the file.
  const at: number[] = [];
  const from: number[] = [];
  const to: number[] = [];
  const out: string[] = [];
  let copied = 0;
  let length = 0;
  let i = text.indexOf("\\");
  while (i !== -1) {
    let run = i;
    while (text.charCodeAt(run) === 92) run++;
    // text[run - 1] is the last backslash of the run; preceded by run - 1 - i others
    if (text[run] === "u" && (run - 1 - i) % 2 === 0) {
      const start = run - 1;
      let end = run;
      while (text[end] === "u") end++;
      const hex = text.slice(end, end + 4);
      if (!/^[0-9a-fA-F]{4}$/.test(hex))
        throw new ImportError(
          { file, line: originalLine(start) },
          `not readable as Java: ${JSON.stringify(text.slice(start, end + 4))} is not a Unicode escape (\\u and four hex digits), which javac refuses even in a comment`,
        );
      out.push(text.slice(copied, start));
      length += start - copied;
      at.push(length);
      from.push(start);
      to.push(end + 4);
      out.push(String.fromCharCode(Number.parseInt(hex, 16)));
      length++;
      copied = end + 4;
      i = text.indexOf("\\", copied);
    } else i = text.indexOf("\\", run);
  }
  if (at.length === 0) return { text, lineAt: originalLine };
  out.push(text.slice(copied));
  return {
    text: out.join(""),
    lineAt(offset: number): number {
      if (offset < at[0]!) return originalLine(offset);
      const k = lastAtMost(at, offset);
      return originalLine(offset === at[k] ? from[k]! : to[k]! + (offset - at[k]! - 1));
    },
  };
}

/** Parses Java source (an {@link ImportError} with the line when it is not Java) and returns its tokens. */
export function tokenizeJava(source: string, file: string): Token[] {
  const { text, lineAt } = translateUnicodeEscapes(source, file);
  let tokens: ReturnType<typeof lexAndParse>["tokens"];
  try {
    tokens = lexAndParse(text).tokens;
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    const m = /line: (\d+), column: (\d+)/.exec(message);
    // java-parser counts lines and columns of the translated text
    const place =
      m === null
        ? { file }
        : { file, line: lineAt((lineStarts(text)[Number(m[1]) - 1] ?? text.length) + Number(m[2]) - 1) };
    throw new ImportError(place, "not readable as Java (java-parser found a syntax error here)", {
      cause: error,
    });
  }
  return tokens.map((t): Token => {
    const name = t.tokenType.name;
    const line = lineAt(t.startOffset);
    if (name === "StringLiteral")
      return {
        kind: "string",
        parts: [{ text: unescapeJava(t.image, () => ({ file, line })) }],
        line,
      };
    if (name === "TextBlock") return { kind: "string", parts: [{ computed: "a text block" }], line };
    if (javaIdentifier.test(t.image)) return { kind: "ident", value: t.image, line };
    if (t.image.length === 1) return { kind: "punct", value: t.image, line };
    // Multi-character operators (`::`, `->`, `+=`…): split into single characters, as the reader expects.
    if (/^[^\w\s"']+$/.test(t.image)) return { kind: "punct", value: t.image, line };
    return { kind: "other", value: t.image, line };
  });
}
