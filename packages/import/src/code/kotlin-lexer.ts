// A Kotlin tokenizer: enough of the language's lexical grammar (comments, nested block comments, strings,
// raw strings, templates, characters, identifiers) to read CertificatePinner calls and constants exactly.
// There is no maintained Kotlin parser for JavaScript; what this cannot read, the reader reports.
import { ImportError } from "../errors.js";
import { maxNesting } from "./expressions.js";
import type { StringPart, Token } from "./tokens.js";

const escapes: Record<string, string> = {
  t: "\t",
  b: "\b",
  n: "\n",
  r: "\r",
  "'": "'",
  '"': '"',
  "\\": "\\",
  $: "$",
};

// Kotlin's Letter (Lu, Ll, Lt, Lm, Lo, Nl) or "_", then also digits (Nd).
const identifierStart = /[\p{L}\p{Nl}_]/u;
const identifier = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Nd}_]*/u;
const simpleRef = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Nd}_]*(\.[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Nd}_]*)*$/u;

/**
 * Splits Kotlin source into tokens; an unterminated string, comment or template is an {@link ImportError}.
 * A template's `${…}` is lexed by the same rules as the file (strings, raw strings, characters, comments and
 * templates nested in it), so a `}` or `"` inside it ends nothing: `"${'"'}"` and `"${"\""}"` are one string.
 */
export function tokenizeKotlin(text: string, file: string): Token[] {
  let i = 0;
  let line = 1;
  let nesting = 0;
  const fail = (at: number, why: string): never => {
    throw new ImportError({ file, line: at }, `not readable as Kotlin: ${why}`);
  };
  const advance = (n: number) => {
    for (let k = 0; k < n; k++) if (text[i + k] === "\n") line++;
    i += n;
  };
  /** Reads `${…}` (at i pointing after `${`), returning the inner source; its tokens are lexed and dropped. */
  const readTemplateExpr = (startLine: number): string => {
    if (nesting >= maxNesting) fail(startLine, `templates nested more than ${maxNesting} deep`);
    nesting++;
    const start = i;
    lex([], true);
    nesting--;
    if (i >= text.length) fail(startLine, "an unterminated ${ template");
    const inner = text.slice(start, i);
    advance(1); // the closing }
    return inner;
  };
  const readTemplate = (parts: StringPart[], startLine: number): boolean => {
    // at "$": a template when followed by an identifier or "{"
    const next = text[i + 1] ?? "";
    if (next === "{") {
      advance(2);
      const inner = readTemplateExpr(startLine).trim();
      parts.push(simpleRef.test(inner) ? { ref: inner } : { computed: inner });
      return true;
    }
    const m = identifier.exec(text.slice(i + 1, i + 200));
    if (m === null) return false;
    parts.push({ ref: m[0] });
    advance(1 + m[0].length);
    return true;
  };
  const pushText = (parts: StringPart[], s: string) => {
    const last = parts[parts.length - 1];
    if (last !== undefined && "text" in last) last.text += s;
    else parts.push({ text: s });
  };

  /**
   * Lexes tokens into `tokens` until the end of the text or, in a template, until the `}` that closes it
   * (left at i).
   */
  const lex = (tokens: Token[], inTemplate: boolean): void => {
    let braces = 0;
    while (i < text.length) {
      const ch = text[i]!;
      const two = text.slice(i, i + 2);
      if (/\s/.test(ch)) {
        advance(1);
      } else if (two === "//") {
        const end = text.indexOf("\n", i);
        advance((end === -1 ? text.length : end) - i);
      } else if (two === "/*") {
        const startLine = line;
        let depth = 0;
        do {
          if (text.startsWith("/*", i)) {
            depth++;
            advance(2);
          } else if (text.startsWith("*/", i)) {
            depth--;
            advance(2);
          } else if (i >= text.length) {
            fail(startLine, "an unterminated /* comment");
          } else advance(1);
        } while (depth > 0);
      } else if (text.startsWith('"""', i)) {
        const startLine = line;
        advance(3);
        const parts: StringPart[] = [];
        for (;;) {
          if (i >= text.length) fail(startLine, 'an unterminated """ string');
          if (text.startsWith('"""', i) && !text.startsWith('""""', i)) {
            advance(3);
            break;
          }
          if (text[i] === "$" && readTemplate(parts, startLine)) continue;
          pushText(parts, text[i]!);
          advance(1);
        }
        tokens.push({ kind: "string", parts, line: startLine });
      } else if (ch === '"') {
        const startLine = line;
        advance(1);
        const parts: StringPart[] = [];
        for (;;) {
          const c = text[i];
          if (c === undefined || c === "\n") fail(startLine, "an unterminated string");
          if (c === '"') {
            advance(1);
            break;
          }
          if (c === "\\") {
            const e = text[i + 1] ?? "";
            if (e === "u") {
              const hex = text.slice(i + 2, i + 6);
              if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail(startLine, "a bad \\u escape");
              pushText(parts, String.fromCharCode(Number.parseInt(hex, 16)));
              advance(6);
            } else if (e in escapes) {
              pushText(parts, escapes[e]!);
              advance(2);
            } else fail(startLine, `an unknown escape \\${e}`);
            continue;
          }
          if (c === "$" && readTemplate(parts, startLine)) continue;
          pushText(parts, c!);
          advance(1);
        }
        tokens.push({ kind: "string", parts, line: startLine });
      } else if (ch === "'") {
        const m = /^'(\\u[0-9a-fA-F]{4}|\\[tbnr'"\\$]|[^'\\\n\r])'/.exec(text.slice(i, i + 10));
        if (m === null) fail(line, "a bad character literal");
        tokens.push({ kind: "other", value: m![0], line });
        advance(m![0].length);
      } else if (ch === "`") {
        const end = text.indexOf("`", i + 1);
        if (end === -1 || text.slice(i, end).includes("\n")) fail(line, "an unterminated `name`");
        tokens.push({ kind: "ident", value: text.slice(i + 1, end), line });
        advance(end + 1 - i);
      } else if (identifierStart.test(ch)) {
        const m = identifier.exec(text.slice(i, i + 500))!;
        tokens.push({ kind: "ident", value: m[0], line });
        advance(m[0].length);
      } else if (/[0-9]/.test(ch)) {
        const m = /^[0-9][0-9A-Za-z_.]*/.exec(text.slice(i, i + 100))!;
        tokens.push({ kind: "other", value: m[0], line });
        advance(m[0].length);
      } else {
        if (inTemplate && ch === "{") braces++;
        else if (inTemplate && ch === "}") {
          if (braces === 0) return;
          braces--;
        }
        tokens.push({ kind: "punct", value: ch, line });
        advance(1);
      }
    }
  };

  const tokens: Token[] = [];
  lex(tokens, false);
  return tokens;
}
