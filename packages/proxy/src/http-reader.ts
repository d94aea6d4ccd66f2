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
  /** The body (UTF-8), or its first `maxBodyBytes` when {@link HttpMessage.truncated}. */
  body: string;
  /** Bytes of body the message carried (de-chunked), kept or not. Set by {@link HttpMessageReader}. */
  bodyLength?: number;
  /** Whether `body` holds only the first bytes of a longer body. Set by {@link HttpMessageReader}. */
  truncated?: boolean;
}

/**
 * Limits of an {@link HttpMessageReader}: what it keeps of each message (the relayed bytes are never limited).
 *
 * @example
 * const reader = new HttpMessageReader({ maxHeadBytes: 16 * 1024, maxBodyBytes: 1024 });
 */
export interface HttpReaderLimits {
  /**
   * Bytes of a message's head (start line and headers) the reader collects before giving up on the stream
   * (default 65,536): past that it reads nothing more of it ({@link HttpMessageReader.gaveUp}).
   */
  maxHeadBytes?: number;
  /** Bytes of each body kept for display (default 65,536); the rest is counted, not kept. */
  maxBodyBytes?: number;
}

const crlfcrlf = Buffer.from("\r\n\r\n");

/** What a chunk-size line may hold (hex size and extensions) before the reader gives up. */
const MAX_CHUNK_LINE = 4096;

/** Bytes copied into one buffer that doubles as it fills: each byte copied a bounded number of times. */
class Collected {
  #bytes = Buffer.alloc(0);
  length = 0;

  append(bytes: Buffer): void {
    if (this.length + bytes.length > this.#bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(256, 2 * this.#bytes.length, this.length + bytes.length));
      this.#bytes.copy(grown, 0, 0, this.length);
      this.#bytes = grown;
    }
    bytes.copy(this.#bytes, this.length);
    this.length += bytes.length;
  }

  /** What was collected (a copy), and forgets it. */
  take(): Buffer {
    const bytes = Buffer.from(this.#bytes.subarray(0, this.length));
    this.clear();
    return bytes;
  }

  clear(): void {
    this.#bytes = Buffer.alloc(0);
    this.length = 0;
  }
}

type State =
  | { at: "head" }
  | { at: "body"; remaining: number }
  | { at: "chunk-size" }
  | { at: "chunk-data"; remaining: number }
  | { at: "chunk-end"; seen: number }
  | { at: "trailer" }
  | { at: "unframed" }
  | { at: "gave-up" };

/**
 * Reads HTTP/1.x messages out of a byte stream as it arrives (bodies framed by content-length or
 * chunked), the way an intercepting proxy shows them. Only for display: relaying is done on the bytes.
 * Its cost is linear in the bytes pushed, and it keeps at most a head and the first bytes of a body
 * ({@link HttpReaderLimits}) whatever a peer sends.
 *
 * @example
 * const reader = new HttpMessageReader();
 * for (const message of reader.push(chunk)) console.log(message.startLine);
 */
export class HttpMessageReader {
  readonly #maxHead: number;
  readonly #maxBody: number;
  #state: State = { at: "head" };
  /** The head collected so far (in pieces: joined once it is complete), or the current line while chunked. */
  readonly #line = new Collected();
  /** The last bytes of the head collected so far (enough to find a CRLFCRLF split across chunks). */
  #tail = Buffer.alloc(0);
  #message: { startLine: string; headers: Record<string, string> } | undefined;
  readonly #body = new Collected();
  #bodyLength = 0;
  #gaveUp: string | undefined;

  constructor(limits: HttpReaderLimits = {}) {
    this.#maxHead = limits.maxHeadBytes ?? 65_536;
    this.#maxBody = limits.maxBodyBytes ?? 65_536;
  }

  /** Bytes the reader holds right now (a head in progress and the kept part of a body): at most its limits. */
  get keptBytes(): number {
    return this.#line.length + this.#body.length;
  }

  /** Why the reader stopped reading the stream (a head over `maxHeadBytes`, a bad chunk line), if it did. */
  get gaveUp(): string | undefined {
    return this.#gaveUp;
  }

  /** Adds bytes; returns the messages they completed. */
  push(chunk: Uint8Array): HttpMessage[] {
    const data = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const messages: HttpMessage[] = [];
    let offset = 0;
    while (offset < data.length) {
      const state = this.#state;
      switch (state.at) {
        case "gave-up":
        case "unframed":
          if (state.at === "unframed") this.#keep(data.subarray(offset));
          return messages;
        case "head":
          offset = this.#readHead(data, offset, messages);
          break;
        case "body": {
          const take = Math.min(state.remaining, data.length - offset);
          this.#keep(data.subarray(offset, offset + take));
          offset += take;
          state.remaining -= take;
          if (state.remaining === 0) messages.push(this.#complete());
          break;
        }
        case "chunk-size": {
          const line = this.#readLine(data, offset, MAX_CHUNK_LINE);
          if (!line) return messages;
          offset = line.offset;
          if (line.text === undefined) return messages; // gave up
          const size = /^[0-9a-f]+/i.exec(line.text.trim())?.[0];
          if (size === undefined) {
            // Not a chunk size: the message ends here, and the rest of what arrived with it is dropped.
            messages.push(this.#complete());
            return messages;
          }
          const remaining = Number.parseInt(size, 16);
          this.#state = remaining === 0 ? { at: "trailer" } : { at: "chunk-data", remaining };
          break;
        }
        case "chunk-data": {
          const take = Math.min(state.remaining, data.length - offset);
          this.#keep(data.subarray(offset, offset + take));
          offset += take;
          state.remaining -= take;
          if (state.remaining === 0) this.#state = { at: "chunk-end", seen: 0 };
          break;
        }
        case "chunk-end": {
          // The CRLF after a chunk's data.
          const take = Math.min(2 - state.seen, data.length - offset);
          offset += take;
          state.seen += take;
          if (state.seen === 2) this.#state = { at: "chunk-size" };
          break;
        }
        case "trailer": {
          const line = this.#readLine(data, offset, this.#maxHead);
          if (!line) return messages;
          offset = line.offset;
          if (line.text === undefined) return messages; // gave up
          if (line.text === "") messages.push(this.#complete()); // trailer fields are read past, not kept
          break;
        }
      }
    }
    return messages;
  }

  /** The stream ended: a message whose body ran to the end is complete now. */
  end(): HttpMessage[] {
    if (this.#state.at !== "unframed") return [];
    return [this.#complete()];
  }

  /** Collects head bytes from `offset`; at the head's end, parses it and picks how the body is framed. */
  #readHead(data: Buffer, offset: number, messages: HttpMessage[]): number {
    // Where the head's CRLFCRLF ends in `data`: across the tail of what came before, else in the new bytes (each
    // byte is looked at once, and nothing is copied but the tail's 3 bytes).
    let end = -1;
    if (this.#tail.length > 0) {
      const at = Buffer.concat([this.#tail, data.subarray(offset, offset + 3)]).indexOf(crlfcrlf);
      if (at >= 0) end = offset + at + 4 - this.#tail.length;
    }
    if (end < 0) {
      const at = data.indexOf(crlfcrlf, offset);
      if (at >= 0) end = at + 4;
    }
    if (end < 0) {
      const added = data.length - offset;
      if (this.#line.length + added > this.#maxHead)
        return this.#giveUp(`a head over ${this.#maxHead} bytes`);
      this.#line.append(data.subarray(offset));
      this.#tail =
        added >= 3
          ? Buffer.from(data.subarray(data.length - 3))
          : Buffer.concat([this.#tail, data.subarray(offset)]).subarray(-3);
      return data.length;
    }
    const used = end - offset;
    if (this.#line.length + used > this.#maxHead + 4)
      return this.#giveUp(`a head over ${this.#maxHead} bytes`);
    this.#line.append(data.subarray(offset, end));
    const head = this.#line.take();
    this.#tail = Buffer.alloc(0);
    const lines = head
      .subarray(0, head.length - 4)
      .toString("latin1")
      .split("\r\n");
    const startLine = lines[0] ?? "";
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    this.#message = { startLine, headers };
    this.#body.clear();
    this.#bodyLength = 0;
    const isResponse = startLine.startsWith("HTTP/");
    const status = isResponse ? Number(startLine.split(" ")[1]) : Number.NaN;
    if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) {
      this.#state = { at: "chunk-size" };
    } else if (headers["content-length"] !== undefined || !isResponse || isBodyless(status)) {
      const length = Number(headers["content-length"] ?? 0);
      const remaining = Number.isSafeInteger(length) && length > 0 ? length : 0;
      if (remaining === 0) messages.push(this.#complete());
      else this.#state = { at: "body", remaining };
    } else {
      // A response with neither length nor chunking: its body ends with the connection.
      this.#state = { at: "unframed" };
    }
    return end;
  }

  /**
   * Reads a CRLF-ended line (chunk size, trailer field) from `offset`, at most `max` bytes: undefined when it has
   * not ended yet (the bytes are kept), `text` undefined when it was too long (the reader gave up).
   */
  #readLine(data: Buffer, offset: number, max: number): { offset: number; text?: string } | undefined {
    const lf = data.indexOf(0x0a, offset);
    const end = lf < 0 ? data.length : lf + 1;
    if (this.#line.length + (end - offset) > max) return { offset: this.#giveUp(`a line over ${max} bytes`) };
    this.#line.append(data.subarray(offset, end));
    if (lf < 0) return undefined;
    const text = this.#line
      .take()
      .toString("latin1")
      .replace(/\r?\n$/, "");
    return { offset: end, text };
  }

  #keep(bytes: Buffer): void {
    this.#bodyLength += bytes.length;
    const room = this.#maxBody - this.#body.length;
    if (room <= 0 || bytes.length === 0) return;
    // Copied: the caller's chunk is not held once it is relayed.
    this.#body.append(bytes.length <= room ? bytes : bytes.subarray(0, room));
  }

  #complete(): HttpMessage {
    const { startLine, headers } = this.#message ?? { startLine: "", headers: {} };
    const truncated = this.#bodyLength > this.#body.length;
    const message: HttpMessage = {
      startLine,
      headers,
      body: this.#body.take().toString("utf8"),
      bodyLength: this.#bodyLength,
      truncated,
    };
    this.#state = { at: "head" };
    this.#message = undefined;
    this.#bodyLength = 0;
    this.#line.clear();
    return message;
  }

  #giveUp(reason: string): number {
    this.#gaveUp = reason;
    this.#state = { at: "gave-up" };
    this.#line.clear();
    this.#tail = Buffer.alloc(0);
    this.#message = undefined;
    this.#body.clear();
    return Number.POSITIVE_INFINITY;
  }
}

/** Statuses whose response has no body whatever its headers say (1xx but 101, 204, 304). */
function isBodyless(status: number): boolean {
  return (status >= 100 && status < 200 && status !== 101) || status === 204 || status === 304;
}
