// A minimal, strict DER reader: tag, length, value, with every length checked against its container.
// It never recurses: callers walk the structures they know, one level at a time.

import { KeypinParseError } from "./errors.js";

/** One TLV element. Offsets are absolute in the buffer being read. */
export interface DerNode {
  /** The identifier octet (class, constructed bit, tag number < 31); high tag numbers are refused. */
  tag: number;
  /** Offset of the identifier octet. */
  start: number;
  /** Offset of the first value byte. */
  valueStart: number;
  /** Offset just past the value. */
  end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
} as const;

const TAG_NAMES: Record<number, string> = {
  1: "BOOLEAN",
  2: "INTEGER",
  3: "BIT STRING",
  4: "OCTET STRING",
  5: "NULL",
  6: "OBJECT IDENTIFIER",
  48: "SEQUENCE",
  49: "SET",
  23: "UTCTime",
  24: "GeneralizedTime",
};

/** A readable name for a tag, for error messages. */
export function tagName(tag: number): string {
  const known = TAG_NAMES[tag];
  if (known) return known;
  if ((tag & 0xc0) === 0x80) return `[${tag & 0x1f}]${tag & 0x20 ? " (constructed)" : ""}`;
  return `tag 0x${tag.toString(16).padStart(2, "0")}`;
}

/**
 * Reads the TLV that starts at `offset`, which must end at or before `limit`.
 * Refuses indefinite lengths, lengths over 4 bytes and high tag numbers (none occur in X.509 keys).
 */
export function readNode(bytes: Uint8Array, offset: number, limit: number = bytes.length): DerNode {
  if (offset >= limit)
    throw new KeypinParseError(`expected a DER element at byte ${offset}, found the end of the data`, offset);
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) {
    throw new KeypinParseError(`unsupported high-number DER tag at byte ${offset}`, offset);
  }
  let p = offset + 1;
  if (p >= limit) throw new KeypinParseError(`DER length missing at byte ${p} (data ends)`, p);
  const first = bytes[p++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else if (first === 0x80) {
    throw new KeypinParseError(`indefinite length at byte ${p - 1} is not DER`, p - 1);
  } else {
    const n = first & 0x7f;
    if (n > 4) throw new KeypinParseError(`DER length of ${n} bytes at byte ${p - 1} is too large`, p - 1);
    if (p + n > limit) throw new KeypinParseError(`DER length at byte ${p - 1} is cut off`, p - 1);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[p++]!;
    if (length < 0x80 || (n > 1 && bytes[p - n] === 0)) {
      throw new KeypinParseError(`DER length at byte ${p - n - 1} is not minimally encoded`, p - n - 1);
    }
  }
  const end = p + length;
  if (end > limit) {
    throw new KeypinParseError(
      `${tagName(tag)} at byte ${offset} declares ${length} bytes but only ${Math.max(0, limit - p)} remain`,
      offset,
    );
  }
  return { tag, start: offset, valueStart: p, end };
}

/** Reads a node and checks its tag. `what` names it in errors ("the certificate's serial number"). */
export function expectNode(
  bytes: Uint8Array,
  offset: number,
  limit: number,
  tag: number,
  what: string,
): DerNode {
  const node = readNode(bytes, offset, limit);
  if (node.tag !== tag) {
    throw new KeypinParseError(
      `expected ${what} (${tagName(tag)}) at byte ${offset}, found ${tagName(node.tag)}`,
      offset,
    );
  }
  return node;
}

/** The direct children of a constructed node; they must fill its value exactly. */
export function childrenOf(bytes: Uint8Array, node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) {
    throw new KeypinParseError(`${tagName(node.tag)} at byte ${node.start} is not constructed`, node.start);
  }
  const out: DerNode[] = [];
  let p = node.valueStart;
  while (p < node.end) {
    const child = readNode(bytes, p, node.end);
    out.push(child);
    p = child.end;
  }
  return out;
}

/** The value bytes of a node (a view, not a copy). */
export function valueBytes(bytes: Uint8Array, node: DerNode): Uint8Array {
  return bytes.subarray(node.valueStart, node.end);
}

/** The whole TLV bytes of a node (a view, not a copy). */
export function encodingOf(bytes: Uint8Array, node: DerNode): Uint8Array {
  return bytes.subarray(node.start, node.end);
}

/** Decodes an OBJECT IDENTIFIER's value to dotted form. */
export function readOid(bytes: Uint8Array, node: DerNode): string {
  if (node.tag !== TAG.OID) {
    throw new KeypinParseError(
      `expected an OBJECT IDENTIFIER at byte ${node.start}, found ${tagName(node.tag)}`,
      node.start,
    );
  }
  const length = node.end - node.valueStart;
  if (length === 0 || length > 64) {
    throw new KeypinParseError(
      `OBJECT IDENTIFIER at byte ${node.start} has a bad length (${length})`,
      node.start,
    );
  }
  // The dotted text is built as the arcs are read (no view, no array): OIDs are read for every name attribute,
  // algorithm and extension of every certificate a handshake brings.
  let out = "";
  let value = 0;
  let digits = 0;
  for (let i = node.valueStart; i < node.end; i++) {
    const b = bytes[i]!;
    if (digits === 0 && b === 0x80) {
      throw new KeypinParseError(`OBJECT IDENTIFIER at byte ${node.start} is not minimally encoded`, i);
    }
    value = value * 128 + (b & 0x7f);
    digits++;
    if (digits > 7) throw new KeypinParseError(`OBJECT IDENTIFIER arc too large at byte ${i}`, i);
    if ((b & 0x80) === 0) {
      if (out === "") out = value < 40 ? `0.${value}` : value < 80 ? `1.${value - 40}` : `2.${value - 80}`;
      else out += `.${value}`;
      value = 0;
      digits = 0;
    }
  }
  if (digits !== 0)
    throw new KeypinParseError(`OBJECT IDENTIFIER at byte ${node.start} is cut off`, node.end);
  return out;
}

/** The value bytes of a BIT STRING with zero unused bits (keys and signatures). */
export function readBitStringBytes(bytes: Uint8Array, node: DerNode, what: string): Uint8Array {
  if (node.tag !== TAG.BIT_STRING) {
    throw new KeypinParseError(
      `expected ${what} (BIT STRING) at byte ${node.start}, found ${tagName(node.tag)}`,
      node.start,
    );
  }
  if (node.end === node.valueStart)
    throw new KeypinParseError(`${what} at byte ${node.start} is empty`, node.start);
  const unused = bytes[node.valueStart]!;
  if (unused !== 0) {
    throw new KeypinParseError(
      `${what} at byte ${node.start} has ${unused} unused bits; expected 0`,
      node.valueStart,
    );
  }
  return bytes.subarray(node.valueStart + 1, node.end);
}

/** Encodes a DER length. */
export function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  const out: number[] = [];
  let n = length;
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | out.length, ...out];
}

/** Encodes one TLV. */
export function encodeNode(tag: number, value: Uint8Array): Uint8Array {
  const head = [tag, ...encodeLength(value.length)];
  const out = new Uint8Array(head.length + value.length);
  out.set(head, 0);
  out.set(value, head.length);
  return out;
}
