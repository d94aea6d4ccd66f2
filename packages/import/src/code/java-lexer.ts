// Java source through java-parser (the parser of prettier-java): the file must parse as Java; its tokens
// (comments dropped) feed the same CertificatePinner reader as Kotlin's.
import { lexAndParse } from "java-parser";
import { ImportError } from "../errors.js";
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

/** The value of a Java string literal (with its quotes), escapes decoded. */
function unescapeJava(image: string): string {
  const body = image.slice(1, -1);
  return body.replace(/\\(u+[0-9a-fA-F]{4}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e.startsWith("u")) return String.fromCharCode(Number.parseInt(e.replace(/^u+/, ""), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return javaEscapes[e] ?? e;
  });
}

/** Parses Java source (an {@link ImportError} with the line when it is not Java) and returns its tokens. */
export function tokenizeJava(text: string, file: string): Token[] {
  let tokens: ReturnType<typeof lexAndParse>["tokens"];
  try {
    tokens = lexAndParse(text).tokens;
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    const m = /line: (\d+)/.exec(message);
    const place = m === null ? { file } : { file, line: Number(m[1]) };
    throw new ImportError(place, "not readable as Java (java-parser found a syntax error here)", {
      cause: error,
    });
  }
  return tokens.map((t): Token => {
    const name = t.tokenType.name;
    if (name === "StringLiteral")
      return { kind: "string", parts: [{ text: unescapeJava(t.image) }], line: t.startLine };
    if (name === "TextBlock")
      return { kind: "string", parts: [{ computed: "a text block" }], line: t.startLine };
    if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(t.image))
      return { kind: "ident", value: t.image, line: t.startLine };
    if (t.image.length === 1) return { kind: "punct", value: t.image, line: t.startLine };
    // Multi-character operators (`::`, `->`, `+=`…): split into single characters, as the reader expects.
    if (/^[^\w\s"']+$/.test(t.image)) return { kind: "punct", value: t.image, line: t.startLine };
    return { kind: "other", value: t.image, line: t.startLine };
  });
}
