// Property lists, XML or binary, as a tree of values that each know their place.
import { parseBinaryPlist } from "./bplist.js";
import { ImportError } from "./errors.js";
import type { Place } from "./types.js";
import { parseXml, type XmlElement } from "./xml.js";

/** One plist value with its place (a line in XML plists, a key path in binary ones). */
export type PlistValue =
  | {
      type: "dict";
      entries: Map<string, PlistValue>;
      place: Place;
      /** Keys an XML dict names more than once (the Map keeps the last value), with the place of each repeat. */
      repeated?: { key: string; place: Place }[];
    }
  | { type: "array"; items: PlistValue[]; place: Place }
  | { type: "string"; value: string; place: Place }
  | { type: "boolean"; value: boolean; place: Place }
  | { type: "number"; value: number; place: Place }
  | { type: "date"; value: Date; place: Place }
  | { type: "data"; place: Place };

/** Whether the bytes are a binary plist (`bplist00`). */
export function isBinaryPlist(bytes: Uint8Array): boolean {
  return new TextDecoder("latin1").decode(bytes.subarray(0, 8)) === "bplist00";
}

/** Parses an XML or binary plist; a malformed one is an {@link ImportError}. */
export function parsePlist(bytes: Uint8Array, file: string): PlistValue {
  return isBinaryPlist(bytes)
    ? parseBinaryPlist(bytes, file)
    : parseXmlPlist(new TextDecoder().decode(bytes), file);
}

function parseXmlPlist(text: string, file: string): PlistValue {
  const root = parseXml(text, file, "cfplist");
  if (root.name !== "plist") {
    throw new ImportError({ file, line: root.line }, `the root element is <${root.name}>, not <plist>`);
  }
  if (root.children.length !== 1) {
    throw new ImportError({ file, line: root.line }, "<plist> must hold exactly one value");
  }
  return fromXml(root.children[0]!, file);
}

function fromXml(el: XmlElement, file: string): PlistValue {
  const place = { file, line: el.line };
  const bad = (why: string) => new ImportError(place, why);
  switch (el.name) {
    case "dict": {
      const entries = new Map<string, PlistValue>();
      const repeated: { key: string; place: Place }[] = [];
      const kids = el.children;
      for (let i = 0; i < kids.length; i += 2) {
        const key = kids[i]!;
        const value = kids[i + 1];
        if (key.name !== "key")
          throw new ImportError(
            { file, line: key.line },
            `<${key.name}> where a <key> was expected in a <dict>`,
          );
        if (value === undefined)
          throw new ImportError({ file, line: key.line }, `<key>${key.text}</key> has no value`);
        // A key's white space is part of it (CFPropertyList keeps it): " api.myapp.com " is another key.
        if (entries.has(key.rawText)) repeated.push({ key: key.rawText, place: { file, line: key.line } });
        entries.set(key.rawText, fromXml(value, file));
      }
      return repeated.length > 0
        ? { type: "dict", entries, place, repeated }
        : { type: "dict", entries, place };
    }
    case "array":
      return { type: "array", items: el.children.map((c) => fromXml(c, file)), place };
    case "string":
      // CFPropertyList keeps a string's white space: " AQEB…= " is not a base64 hash there.
      return { type: "string", value: el.rawText, place };
    case "true":
    case "false":
      return { type: "boolean", value: el.name === "true", place };
    case "integer":
    case "real": {
      const value = Number(el.text);
      if (!Number.isFinite(value)) throw bad(`<${el.name}>${el.text}</${el.name}> is not a number`);
      return { type: "number", value, place };
    }
    case "date": {
      const value = new Date(el.text);
      if (Number.isNaN(value.getTime())) throw bad(`<date>${el.text}</date> is not a date`);
      return { type: "date", value, place };
    }
    case "data":
      return { type: "data", place };
    default:
      throw bad(`<${el.name}> is not a plist value`);
  }
}
