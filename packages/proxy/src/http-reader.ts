/**
 * One HTTP/1.x message as an intercepting proxy reads it off the wire.
 *
 * @example
 * const token = message.headers["authorization"]; // "Bearer …" when the client sent one
 */
export interface HttpMessage {
  /** `GET /user/profile HTTP/1.1` or `HTTP/1.1 200 OK`. */
  startLine: string;
  /** Header names in lower case, values as sent. */
  headers: Record<string, string>;
  body: string;
}

const crlfcrlf = Buffer.from("\r\n\r\n");

/**
 * Reads HTTP/1.x messages out of a byte stream as it arrives (bodies framed by content-length or
 * chunked), the way an intercepting proxy shows them. Only for display: relaying is done on the bytes.
 *
 * @example
 * const reader = new HttpMessageReader();
 * for (const message of reader.push(chunk)) console.log(message.startLine);
 */
export class HttpMessageReader {
  #buffer = Buffer.alloc(0);
  #unframed: { startLine: string; headers: Record<string, string> } | undefined;

  /** Adds bytes; returns the messages they completed. */
  push(chunk: Uint8Array): HttpMessage[] {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    const messages: HttpMessage[] = [];
    for (;;) {
      if (this.#unframed) return messages; // body runs to the end of the stream
      const message = this.#next();
      if (!message) return messages;
      messages.push(message);
    }
  }

  /** The stream ended: a message whose body ran to the end is complete now. */
  end(): HttpMessage[] {
    if (!this.#unframed) return [];
    const message = { ...this.#unframed, body: this.#buffer.toString("utf8") };
    this.#unframed = undefined;
    this.#buffer = Buffer.alloc(0);
    return [message];
  }

  #next(): HttpMessage | undefined {
    const headEnd = this.#buffer.indexOf(crlfcrlf);
    if (headEnd < 0) return undefined;
    const lines = this.#buffer.subarray(0, headEnd).toString("latin1").split("\r\n");
    const startLine = lines[0] ?? "";
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const rest = this.#buffer.subarray(headEnd + 4);
    const isResponse = startLine.startsWith("HTTP/");
    if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) {
      const decoded = decodeChunked(rest);
      if (!decoded) return undefined;
      this.#buffer = rest.subarray(decoded.consumed);
      return { startLine, headers, body: decoded.body.toString("utf8") };
    }
    const lengthHeader = headers["content-length"];
    if (lengthHeader !== undefined || !isResponse) {
      const length = Number(lengthHeader ?? 0);
      if (rest.length < length) return undefined;
      this.#buffer = rest.subarray(length);
      return { startLine, headers, body: rest.subarray(0, length).toString("utf8") };
    }
    // A response with neither length nor chunking: its body ends with the connection.
    this.#unframed = { startLine, headers };
    this.#buffer = rest;
    return undefined;
  }
}

function decodeChunked(data: Buffer): { body: Buffer; consumed: number } | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", offset);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString("latin1"), 16);
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), consumed: data.length };
    const start = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = data.indexOf(crlfcrlf, lineEnd);
      if (trailerEnd >= 0) return { body: Buffer.concat(parts), consumed: trailerEnd + 4 };
      if (data.length >= start + 2 && data.subarray(start, start + 2).toString() === "\r\n") {
        return { body: Buffer.concat(parts), consumed: start + 2 };
      }
      return undefined;
    }
    if (data.length < start + size + 2) return undefined;
    parts.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
}
