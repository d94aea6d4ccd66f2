// Binary property lists (`bplist00`), read with work bounded by the file: objects refer to each other by
// index, so a small file can describe a huge tree (arrays that each hold the next one twice) or a cycle.
// Each object is decoded once; the tree built from them may hold no more values than the file has bytes,
// nest no deeper than maxDepth, and never contain itself.
import { ImportError } from "./errors.js";
import type { PlistValue } from "./plist.js";
import type { Place } from "./types.js";

/** How deep a binary plist may nest (Info.plist pinning is five levels deep). */
export const maxDepth = 256;

/** How long a key path in a place may grow; a longer one ends in "/…". */
export const maxKeyPathLength = 512;

const epoch = Date.UTC(2001, 0, 1);

/**
 * The key path one level down. Keys are shared objects, so a file of a few MB can name a 2-million-character key
 * at every one of 256 levels: each segment is cut to 60 characters and the whole path to {@link maxKeyPathLength}.
 */
function childPath(keyPath: string, segment: string): string {
  if (keyPath.endsWith("/…")) return keyPath;
  const cut = segment.length > 60 ? `${segment.slice(0, 59)}…` : segment;
  const path = `${keyPath}/${cut}`;
  return path.length > maxKeyPathLength ? `${keyPath}/…` : path;
}

/** Decoded object headers, by object index. */
type Header =
  | { kind: "scalar"; value: Scalar }
  | { kind: "array"; refs: number[] }
  | { kind: "dict"; keys: number[]; values: number[] };

type Scalar =
  | { type: "string"; value: string }
  | { type: "boolean"; value: boolean }
  | { type: "number"; value: number }
  | { type: "date"; value: Date }
  | { type: "data" };

/**
 * Parses a binary plist into plist values placed by key path. Malformed, cyclic, too deep or too large
 * once expanded: an {@link ImportError} ("not a readable binary plist: …").
 */
export function parseBinaryPlist(bytes: Uint8Array, file: string): PlistValue {
  const unreadable = (why: string, place: Place = { file }) =>
    new ImportError(place, `not a readable binary plist: ${why}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 + 32)
    throw unreadable(`${bytes.length} bytes is too short for a header and a trailer`);
  const trailer = bytes.length - 32;
  const offsetSize = bytes[trailer + 6]!;
  const refSize = bytes[trailer + 7]!;
  const uint = (at: number, size: number): number => {
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + bytes[at + i]!;
    return n; // exact up to 2^53; anything larger fails the range checks below
  };
  const count = uint(trailer + 8, 8);
  const top = uint(trailer + 16, 8);
  const tableAt = uint(trailer + 24, 8);
  if (offsetSize < 1 || offsetSize > 8 || refSize < 1 || refSize > 8)
    throw unreadable(`offset size ${offsetSize} and reference size ${refSize} must be 1 to 8 bytes`);
  if (count < 1 || top >= count) throw unreadable(`its top object ${top} is not one of its ${count} objects`);
  if (tableAt < 8 || tableAt + count * offsetSize > trailer)
    throw unreadable(`its offset table (${count} offsets at ${tableAt}) is not inside the file`);

  const headers: (Header | undefined)[] = new Array(count);
  const objectEnd = tableAt; // objects lie between the magic and the offset table
  const header = (index: number): Header => {
    const known = headers[index];
    if (known !== undefined) return known;
    const at = uint(tableAt + index * offsetSize, offsetSize);
    const bad = (why: string) => unreadable(`object ${index} (at byte ${at}) ${why}`);
    if (at < 8 || at >= objectEnd) throw bad("is outside the object area");
    const need = (from: number, length: number) => {
      if (from + length > objectEnd) throw bad("runs past the end of the object area");
      return from;
    };
    const marker = bytes[at]!;
    const high = marker >> 4;
    const low = marker & 0x0f;
    // A collection, string or data length: the low nibble, or 0xF and an integer object after the marker.
    const length = (): { n: number; from: number } => {
      if (low !== 0x0f) return { n: low, from: at + 1 };
      const intMarker = bytes[need(at + 1, 1)]!;
      const size = 1 << (intMarker & 0x0f);
      if (intMarker >> 4 !== 0x1 || size > 8) throw bad("has a length that is not an integer");
      const n = uint(need(at + 2, size), size);
      return { n, from: at + 2 + size };
    };
    let made: Header;
    switch (high) {
      case 0x0:
        if (low !== 0x8 && low !== 0x9) throw bad(`is a null or fill value (0x${marker.toString(16)})`);
        made = { kind: "scalar", value: { type: "boolean", value: low === 0x9 } };
        break;
      case 0x1: {
        const size = 1 << low;
        if (size > 16) throw bad(`is an integer of ${size} bytes`);
        need(at + 1, size);
        // 8 and 16 byte integers are signed (two's complement); shorter ones unsigned.
        let value: number;
        if (size < 8) value = uint(at + 1, size);
        else value = Number(view.getBigInt64(at + 1 + size - 8));
        made = { kind: "scalar", value: { type: "number", value } };
        break;
      }
      case 0x2: {
        const size = 1 << low;
        if (size !== 4 && size !== 8) throw bad(`is a real of ${size} bytes`);
        need(at + 1, size);
        const value = size === 4 ? view.getFloat32(at + 1) : view.getFloat64(at + 1);
        made = { kind: "scalar", value: { type: "number", value } };
        break;
      }
      case 0x3:
        if (low !== 0x3) throw bad("is a date that is not 8 bytes");
        need(at + 1, 8);
        made = {
          kind: "scalar",
          value: { type: "date", value: new Date(epoch + 1000 * view.getFloat64(at + 1)) },
        };
        break;
      case 0x4: {
        const { n, from } = length();
        need(from, n);
        made = { kind: "scalar", value: { type: "data" } };
        break;
      }
      case 0x5:
      case 0x6: {
        const { n, from } = length();
        const size = high === 0x6 ? n * 2 : n;
        need(from, size);
        let value: string;
        if (high === 0x5) value = new TextDecoder().decode(bytes.subarray(from, from + size));
        else {
          const units: string[] = [];
          for (let i = 0; i < n; i++) units.push(String.fromCharCode(view.getUint16(from + 2 * i)));
          value = units.join("");
        }
        made = { kind: "scalar", value: { type: "string", value } };
        break;
      }
      case 0x8:
        need(at + 1, low + 1);
        made = { kind: "scalar", value: { type: "data" } }; // a keyed-archiver UID
        break;
      case 0xa:
      case 0xd: {
        const { n, from } = length();
        const refCount = high === 0xd ? 2 * n : n;
        need(from, refCount * refSize);
        const refs: number[] = [];
        for (let i = 0; i < refCount; i++) {
          const ref = uint(from + i * refSize, refSize);
          if (ref >= count) throw bad(`refers to object ${ref}, but there are ${count}`);
          refs.push(ref);
        }
        made =
          high === 0xa
            ? { kind: "array", refs }
            : { kind: "dict", keys: refs.slice(0, n), values: refs.slice(n) };
        break;
      }
      default:
        throw bad(`has a type keypin cannot read (marker 0x${marker.toString(16)})`);
    }
    headers[index] = made;
    return made;
  };

  // Every value of the tree costs one: without shared collections a tree has fewer values than the file
  // has bytes (each takes a reference of one byte or more), so a file that needs more describes a bomb.
  let budget = bytes.length;
  const onPath = new Uint8Array(count);
  const build = (index: number, keyPath: string, depth: number): PlistValue => {
    const place: Place = { file, keyPath: keyPath === "" ? "/" : keyPath };
    if (--budget < 0)
      throw unreadable(
        `its objects refer to each other so that they expand to more than ${bytes.length} values (one per byte of the file)`,
      );
    if (depth > maxDepth) throw unreadable(`it nests more than ${maxDepth} levels deep`);
    if (onPath[index] === 1) throw unreadable(`object ${index} contains itself`, place);
    const h = header(index);
    if (h.kind === "scalar") return { ...h.value, place };
    onPath[index] = 1;
    let out: PlistValue;
    if (h.kind === "array") {
      out = {
        type: "array",
        items: h.refs.map((r, i) => build(r, childPath(keyPath, String(i)), depth + 1)),
        place,
      };
    } else {
      const entries = new Map<string, PlistValue>();
      const repeated: { key: string; place: Place }[] = [];
      h.keys.forEach((k, i) => {
        const key = header(k);
        if (key.kind !== "scalar" || key.value.type !== "string")
          throw unreadable(`a dict key (object ${k}) is not a string`, place);
        const name = key.value.value;
        const path = childPath(keyPath, name);
        if (entries.has(name)) repeated.push({ key: name, place: { file, keyPath: path } });
        entries.set(name, build(h.values[i]!, path, depth + 1));
      });
      out =
        repeated.length > 0 ? { type: "dict", entries, place, repeated } : { type: "dict", entries, place };
    }
    onPath[index] = 0;
    return out;
  };
  return build(top, "", 0);
}
