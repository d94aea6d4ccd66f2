import { decodeBase64, encodeBase64 } from "./bytes.js";
import { KeypinParseError } from "./errors.js";

/**
 * One `-----BEGIN label-----` … `-----END label-----` block: its label, decoded DER and the 1-based line
 * of its BEGIN line.
 *
 * @example
 * ```ts
 * const [block]: PemBlock[] = decodePem(text);
 * console.log(block?.label, block?.line);
 * ```
 */
export interface PemBlock {
  label: string;
  der: Uint8Array;
  line: number;
}

const BEGIN = /-----BEGIN ([^\r\n-]*(?:-[^\r\n-]+)*)-----/g;

/**
 * Finds every PEM block in `text` (text around and between blocks is ignored; LF or CRLF; any line
 * width; RFC 1421 headers such as `Proc-Type:` are skipped). Throws {@link KeypinParseError} with the
 * character offset when a block is malformed: no END line, END label differs, bad base64.
 *
 * @example
 * ```ts
 * for (const block of decodePem(readFileSync("chain.pem", "utf8"))) console.log(block.label, block.der.length);
 * ```
 */
export function decodePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  // Line numbers are counted incrementally so that a bundle of many blocks stays linear.
  let countedTo = 0;
  let countedLine = 1;
  const lineOf = (_text: string, offset: number): number => {
    if (offset < countedTo) return lineAt(text, offset);
    for (let i = countedTo; i < offset; i++) if (text.charCodeAt(i) === 10) countedLine++;
    countedTo = offset;
    return countedLine;
  };
  BEGIN.lastIndex = 0;
  let match: RegExpExecArray | null = BEGIN.exec(text);
  while (match !== null) {
    const label = match[1]!;
    const beginAt = match.index;
    const bodyStart = beginAt + match[0].length;
    const endMarker = `-----END ${label}-----`;
    const endAt = text.indexOf("-----END ", bodyStart);
    if (endAt < 0) {
      throw new KeypinParseError(
        `PEM block "${label}" at line ${lineOf(text, beginAt)} has no END line`,
        beginAt,
      );
    }
    if (!text.startsWith(endMarker, endAt)) {
      const found = /^-----END ([^\r\n]*?)-----/.exec(text.slice(endAt, endAt + 100));
      throw new KeypinParseError(
        `PEM block "${label}" at line ${lineOf(text, beginAt)} ends with "END ${found?.[1] ?? "?"}" instead of "END ${label}"`,
        endAt,
      );
    }
    const body = text.slice(bodyStart, endAt);
    const der = decodeBody(body, bodyStart, label, lineOf(text, beginAt));
    blocks.push({ label, der, line: lineOf(text, beginAt) });
    BEGIN.lastIndex = endAt + endMarker.length;
    match = BEGIN.exec(text);
  }
  return blocks;
}

function decodeBody(body: string, bodyStart: number, label: string, line: number): Uint8Array {
  // Skip RFC 1421 headers ("Proc-Type: 4,ENCRYPTED", "DEK-Info: …") and the blank line after them.
  let start = 0;
  if (body.includes(":")) {
    const lines = body.split("\n");
    let consumed = 0;
    let i = 0;
    if (lines[0]?.trim() === "") {
      consumed += lines[0]!.length + 1;
      i = 1;
    }
    let sawHeader = false;
    for (; i < lines.length; i++) {
      const l = lines[i]!;
      if (/^[A-Za-z0-9-]+:/.test(l) || (sawHeader && /^[ \t]/.test(l) && l.trim() !== "")) {
        sawHeader = true;
        consumed += l.length + 1;
        continue;
      }
      break;
    }
    if (sawHeader) start = consumed;
  }
  const rest = body.slice(start);
  const compact = rest.replace(/[ \t\r\n]+/g, "");
  if (compact.length === 0)
    throw new KeypinParseError(`PEM block "${label}" at line ${line} is empty`, bodyStart);
  const decoded = decodeBase64(compact);
  if (decoded instanceof Uint8Array) return decoded;
  throw new KeypinParseError(
    `PEM block "${label}" at line ${line}: its base64 ${decoded.reason}`,
    bodyStart + start + textIndexOf(rest, decoded.index),
  );
}

/** The index in `text` of the n-th character that is not whitespace (or text.length). */
function textIndexOf(text: string, n: number): number {
  let seen = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === " " || c === "\t" || c === "\r" || c === "\n") continue;
    if (seen === n) return i;
    seen++;
  }
  return text.length;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Wraps DER in PEM armor with 64-character lines and a final newline.
 *
 * @example
 * ```ts
 * const pem = encodePem(info.der);                 // -----BEGIN CERTIFICATE----- …
 * const pub = encodePem(info.spki, "PUBLIC KEY");
 * ```
 */
export function encodePem(der: Uint8Array, label = "CERTIFICATE"): string {
  const b64 = encodeBase64(der);
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END ${label}-----\n`;
}
