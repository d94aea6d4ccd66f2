// The client's TLS ClientHello, parsed by hand (no maintained parser was added to the workspace's lockfile for
// this), and a fingerprint of its TLS stack in the manner of JA4: what does not change from one connection of
// the same client to the next (GREASE values, the SNI and padding extensions, session resumption, extension
// order, which Chrome randomises) is left out.
import { createHash } from "node:crypto";

/** What a ClientHello says about the client's TLS stack. */
export interface ClientHello {
  /** legacy_version, e.g. 0x0303. */
  version: number;
  ciphers: number[];
  /** Extension types, in the order sent. */
  extensions: number[];
  /** supported_groups. */
  groups: number[];
  signatureAlgorithms: number[];
  /** supported_versions (TLS 1.3 clients), e.g. [0x0304, 0x0303]. */
  supportedVersions: number[];
  alpn: string[];
  /** The SNI host name, if any. */
  servername: string | undefined;
}

const isGrease = (value: number): boolean => (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff);

class Reader {
  offset = 0;
  constructor(readonly bytes: Buffer) {}
  need(n: number): void {
    if (this.offset + n > this.bytes.length) throw new RangeError("truncated ClientHello");
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.bytes.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  u24(): number {
    return (this.u8() << 16) | this.u16();
  }
  take(n: number): Buffer {
    this.need(n);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

function u16List(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) out.push(bytes.readUInt16BE(i));
  return out;
}

/**
 * The first handshake message in `records` (TLS records, headers included), reassembled from as many handshake
 * records as it spans (RFC 8446 5.1: a message may be fragmented across records, as OpenSSL's
 * `-max_send_frag` does with a long ClientHello). Throws a RangeError when the records end before it does.
 */
function firstHandshakeMessage(records: Buffer): Buffer {
  const r = new Reader(records);
  const bodies: Buffer[] = [];
  let length = 0;
  let need = Number.POSITIVE_INFINITY; // the message's length, once its 4-byte header is in
  for (;;) {
    if (r.u8() !== 0x16) throw new RangeError("not a handshake record");
    r.u16();
    const body = r.take(r.u16());
    bodies.push(body);
    length += body.length;
    if (need === Number.POSITIVE_INFINITY && length >= 4)
      need = 4 + Buffer.concat(bodies, 4).readUIntBE(1, 3);
    // Concatenated once: per record, many tiny records would make it quadratic.
    if (length >= need) return Buffer.concat(bodies, length);
  }
}

/**
 * Parses the TLS records a client sent first (record headers included: one record, or several when the client
 * fragments its ClientHello). Returns `undefined` when they do not hold a complete ClientHello (plain HTTP, a
 * truncated or malformed hello).
 *
 * @example
 * proxy.onEvent = (e) => { if (e.kind === "client-hello") console.log(parseClientHello(e.record)?.servername); };
 */
export function parseClientHello(records: Buffer): ClientHello | undefined {
  try {
    const body = new Reader(firstHandshakeMessage(records));
    if (body.u8() !== 0x01) return undefined;
    const hello = new Reader(body.take(body.u24()));
    const version = hello.u16();
    hello.take(32);
    hello.take(hello.u8());
    const ciphers = u16List(hello.take(hello.u16()));
    hello.take(hello.u8());
    const result: ClientHello = {
      version,
      ciphers,
      extensions: [],
      groups: [],
      signatureAlgorithms: [],
      supportedVersions: [],
      alpn: [],
      servername: undefined,
    };
    if (hello.offset === hello.bytes.length) return result;
    const extensions = new Reader(hello.take(hello.u16()));
    while (extensions.offset < extensions.bytes.length) {
      const type = extensions.u16();
      const data = extensions.take(extensions.u16());
      result.extensions.push(type);
      const d = new Reader(data);
      if (type === 0x0000 && data.length >= 5) {
        const list = new Reader(d.take(d.u16()));
        while (list.offset < list.bytes.length) {
          const kind = list.u8();
          const name = list.take(list.u16());
          if (kind === 0) result.servername = name.toString("latin1").toLowerCase();
        }
      } else if (type === 0x000a) result.groups = u16List(d.take(d.u16()));
      else if (type === 0x000d) result.signatureAlgorithms = u16List(d.take(d.u16()));
      else if (type === 0x002b) result.supportedVersions = u16List(d.take(d.u8()));
      else if (type === 0x0010) {
        const list = new Reader(d.take(d.u16()));
        while (list.offset < list.bytes.length) result.alpn.push(list.take(list.u8()).toString("latin1"));
      }
    }
    return result;
  } catch {
    return undefined;
  }
}

/** Extensions whose presence varies between connections of one client: SNI, padding, PSK, early data. */
const VOLATILE = new Set([0x0000, 0x0015, 0x0029, 0x002a]);

/**
 * A fingerprint of the client's TLS stack: the same for every connection one client makes (whatever the host, an
 * IP or a name, resumed or not), different between stacks that offer different versions, ciphers, extensions,
 * groups, signature algorithms or ALPN. 16 hex digits.
 *
 * @example
 * const id = fingerprintOf(parseClientHello(record)!); // "3f2a…"
 */
export function fingerprintOf(hello: ClientHello): string {
  const clean = (list: number[]): number[] => list.filter((v) => !isGrease(v));
  const sorted = (list: number[]): string => [...list].sort((a, b) => a - b).join(",");
  const canonical = [
    hello.version,
    clean(hello.ciphers).join(","),
    sorted(clean(hello.extensions).filter((t) => !VOLATILE.has(t))),
    clean(hello.groups).join(","),
    hello.signatureAlgorithms.join(","),
    clean(hello.supportedVersions).join(","),
    hello.alpn.join(","),
  ].join("|");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}
