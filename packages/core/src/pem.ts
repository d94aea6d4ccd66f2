import { decodeBase64, encodeBase64 } from "./bytes.js";
import { KeypinParseError } from "./errors.js";

/**
 * One `-----BEGIN label-----` … `-----END label-----` block: its label, decoded DER, the 1-based line
 * of its BEGIN line and, when present, its RFC 1421 headers (e.g. `Proc-Type: 4,ENCRYPTED` of
 * OpenSSL's legacy encrypted keys).
 *
 * @example
 * ```ts
 * const [block]: PemBlock[] = decodePem(text);
 * console.log(block?.label, block?.line, block?.headers?.["Proc-Type"]);
 * ```
 */
export interface PemBlock {
  label: string;
  der: Uint8Array;
  line: number;
  headers?: Record<string, string>;
}

/**
 * Finds every PEM block in `text` (text around and between blocks is ignored; LF or CRLF; any line
 * width; RFC 1421 headers are read into `headers`). Throws {@link KeypinParseError} with the character
 * offset when a block is malformed: no END line, END label differs, bad base64.
 *
 * @example
 * ```ts
 * for (const block of decodePem(readFileSync("chain.pem", "utf8"))) console.log(block.label, block.der.length);
 * ```
 */
export function decodePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const begin = /-----BEGIN ([^\r\n-]*(?:-[^\r\n-]+)*)-----/g;
  // Line numbers are counted incrementally so that a bundle of many blocks stays linear.
  let countedTo = 0;
  let countedLine = 1;
  const lineOf = (offset: number): number => {
    for (let i = countedTo; i < offset; i++) if (text.charCodeAt(i) === 10) countedLine++;
    countedTo = Math.max(countedTo, offset);
    return countedLine;
  };
  let match: RegExpExecArray | null = begin.exec(text);
  while (match !== null) {
    const label = match[1]!;
    const beginAt = match.index;
    const line = lineOf(beginAt);
    const bodyStart = beginAt + match[0].length;
    const endMarker = `-----END ${label}-----`;
    const endAt = text.indexOf("-----END ", bodyStart);
    if (endAt < 0)
      throw new KeypinParseError(`PEM block "${label}" at line ${line} has no END line`, beginAt);
    if (!text.startsWith(endMarker, endAt)) {
      const found = /^-----END ([^\r\n]*?)-----/.exec(text.slice(endAt, endAt + 100));
      throw new KeypinParseError(
        `PEM block "${label}" at line ${line} ends with "END ${found?.[1] ?? "?"}" instead of "END ${label}"`,
        endAt,
      );
    }
    const { der, headers } = decodeBody(text.slice(bodyStart, endAt), bodyStart, label, line);
    blocks.push(headers ? { label, der, line, headers } : { label, der, line });
    begin.lastIndex = endAt + endMarker.length;
    match = begin.exec(text);
  }
  return blocks;
}

function decodeBody(
  body: string,
  bodyStart: number,
  label: string,
  line: number,
): { der: Uint8Array; headers?: Record<string, string> } {
  // RFC 1421 headers ("Proc-Type: 4,ENCRYPTED", "DEK-Info: …", continuation lines start with a space),
  // then a blank line, then the base64.
  let start = 0;
  let headers: Record<string, string> | undefined;
  if (body.includes(":")) {
    const lines = body.split("\n");
    let consumed = 0;
    let i = 0;
    if (lines[0]?.trim() === "") {
      consumed += lines[0]!.length + 1;
      i = 1;
    }
    let last: string | undefined;
    for (; i < lines.length; i++) {
      const l = lines[i]!;
      const header = /^([A-Za-z0-9-]+):\s*(.*?)\s*$/.exec(l);
      if (header) {
        headers ??= {};
        last = header[1]!;
        headers[last] = header[2]!;
      } else if (last !== undefined && /^[ \t]/.test(l) && l.trim() !== "") {
        headers![last] += l.trim();
      } else break;
      consumed += l.length + 1;
    }
    if (headers) start = consumed;
  }
  const rest = body.slice(start);
  const compact = rest.replace(/[ \t\r\n]+/g, "");
  if (compact.length === 0)
    throw new KeypinParseError(`PEM block "${label}" at line ${line} is empty`, bodyStart);
  const decoded = decodeBase64(compact);
  if (decoded instanceof Uint8Array) return headers ? { der: decoded, headers } : { der: decoded };
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

/**
 * Wraps DER in PEM armor with 64-character lines and a final newline; `headers` (RFC 1421, as
 * {@link decodePem} reads them) come first, in their order, then a blank line.
 *
 * @example
 * ```ts
 * const pem = encodePem(info.der);                 // -----BEGIN CERTIFICATE----- …
 * const pub = encodePem(info.spki, "PUBLIC KEY");
 * const key = encodePem(block.der, block.label, block.headers); // a legacy encrypted key, as it was
 * ```
 */
export function encodePem(der: Uint8Array, label = "CERTIFICATE", headers?: Record<string, string>): string {
  const b64 = encodeBase64(der);
  let out = `-----BEGIN ${label}-----\n`;
  if (headers) {
    for (const [name, value] of Object.entries(headers)) out += `${name}: ${value}\n`;
    out += "\n";
  }
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END ${label}-----\n`;
}
