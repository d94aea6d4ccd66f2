// A small element tree over fast-xml-parser, with the line each element starts on. References (&#116;, &amp;,
// &name;) are decoded here, not by fast-xml-parser, as the platform's own parser decodes them.
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { short } from "./common.js";
import { ImportError } from "./errors.js";
import { lineIndex } from "./place.js";

/** One XML element: its name, attributes, child elements, text (references decoded) and line. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (not its children's), joined and trimmed. */
  text: string;
  /** The same text untrimmed: where white space is part of the value (a plist key, an Android domain). */
  rawText: string;
  line: number;
}

/**
 * Whose reading of XML keypin follows:
 * - `expat`: an XML 1.0 parser, as Android's build (aapt2 parses resources with expat): line ends become LF,
 *   attribute values are normalized, character references name any XML character, and the DTD's plain-text
 *   entities are expanded;
 * - `cfplist`: Core Foundation's plist parser (CFPropertyList): no line-end or attribute normalization, the
 *   five predefined entities and character references only (it keeps 16 bits of a reference), no DTD entities.
 */
export type XmlReader = "expat" | "cfplist";

/** How many characters the DTD's entities may add to a document in all (a real config adds a few dozen). */
export const maxEntityExpansion = 1 << 20;

const metadata = XMLParser.getMetaDataSymbol() as unknown as symbol;

type OrderedNode = Record<string, unknown> & { ":@"?: Record<string, string> };

const predefined = new Map([
  ["lt", "<"],
  ["gt", ">"],
  ["amp", "&"],
  ["apos", "'"],
  ["quot", '"'],
]);

/** A reference at the start of the match: hex or decimal character reference, or an entity name. */
const referenceAt = /&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|([A-Za-z_:][-A-Za-z0-9_:.\u00b7\u00c0-\uffff]*));/y;

/** Whether `code` is a character XML 1.0 allows (production [2] Char). */
function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

/** The DOCTYPE's span and the plain-text entities its internal subset declares. */
interface Doctype {
  start: number;
  end: number;
  entities: Map<string, string>;
}

/**
 * Reads the DOCTYPE, if the prolog has one. keypin reads only what every parser reads alike: a name, an external
 * identifier (never fetched), comments and `<!ENTITY name "plain text">`. Anything else is an {@link ImportError}
 * naming the line: entities holding markup or references (expat builds elements from them), parameter and
 * external entities, and `<!ATTLIST>` (expat gives elements the default attribute values it declares).
 */
function readDoctype(text: string, file: string, lineOf: (offset: number) => number): Doctype | undefined {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /[ \t\r\n]/.test(text[i]!)) i++;
  };
  for (;;) {
    skipSpace();
    const close = text.startsWith("<?", i) ? "?>" : text.startsWith("<!--", i) ? "-->" : undefined;
    if (close === undefined) break;
    const end = text.indexOf(close, i + 2);
    if (end === -1) return undefined; // unterminated: the validator has already said so
    i = end + close.length;
  }
  if (!text.startsWith("<!DOCTYPE", i)) return undefined;
  const start = i;
  const refuse = (at: number, why: string): never => {
    throw new ImportError({ file, line: lineOf(at) }, why);
  };
  const literal = (): string => {
    const quote = text[i];
    if (quote !== '"' && quote !== "'") return refuse(i, "the DOCTYPE has a declaration keypin cannot read");
    const close = text.indexOf(quote, i + 1);
    if (close === -1) return refuse(i, "the DOCTYPE has a quoted value that is never closed");
    const value = text.slice(i + 1, close);
    i = close + 1;
    return value;
  };
  const name = (): string => {
    const from = i;
    while (i < text.length && !/[ \t\r\n"'[\]>]/.test(text[i]!)) i++;
    return text.slice(from, i);
  };
  i += "<!DOCTYPE".length;
  skipSpace();
  name();
  skipSpace();
  for (const keyword of ["SYSTEM", "PUBLIC"]) {
    if (!text.startsWith(keyword, i)) continue;
    i += keyword.length;
    skipSpace();
    literal();
    skipSpace();
    if (keyword === "PUBLIC") {
      literal();
      skipSpace();
    }
  }
  const entities = new Map<string, string>();
  if (text[i] === "[") {
    i++;
    for (;;) {
      skipSpace();
      const at = i;
      if (text[i] === "]") {
        i++;
        break;
      }
      if (text.startsWith("<!--", i)) {
        const close = text.indexOf("-->", i + 4);
        if (close === -1) refuse(at, "the DOCTYPE has a comment that is never closed");
        i = close + 3;
        continue;
      }
      if (!text.startsWith("<!ENTITY", i)) {
        const what = /^<![A-Z]+|^<\?|^%/.exec(text.slice(i, i + 12))?.[0] ?? short(text.slice(i, i + 12));
        refuse(
          at,
          what === "<!ATTLIST"
            ? "the DOCTYPE declares <!ATTLIST>: Android's XML parser (expat, in aapt2) gives elements the default attribute values it declares (overridePins on every <certificates>, say); keypin does not read them: remove it"
            : `the DOCTYPE holds ${what}: keypin reads only comments and <!ENTITY name "plain text"> there`,
        );
      }
      i += "<!ENTITY".length;
      skipSpace();
      if (text[i] === "%")
        refuse(at, "the DOCTYPE declares a parameter entity (<!ENTITY % …>): keypin does not read them");
      const entity = name();
      skipSpace();
      if (text.startsWith("SYSTEM", i) || text.startsWith("PUBLIC", i)) {
        refuse(
          at,
          `<!ENTITY ${entity}> is an external entity: keypin reads no other file (nor does Android)`,
        );
      }
      const value = literal();
      if (/[<&%]/.test(value)) {
        refuse(
          at,
          `<!ENTITY ${entity}> holds markup or a reference (<, & or %): an XML parser builds elements or more text from it where keypin would read plain text; keypin reads only plain-text entities: write it out`,
        );
      }
      skipSpace();
      if (text[i] !== ">") refuse(at, `<!ENTITY ${entity}> has more than a name and a quoted value`);
      i++;
      if (predefined.has(entity) || entities.has(entity)) {
        refuse(at, `<!ENTITY ${entity}> is declared twice or redeclares a predefined entity`);
      }
      entities.set(entity, value);
    }
    skipSpace();
  }
  if (text[i] !== ">") refuse(start, "the DOCTYPE is not closed where keypin expects it");
  return { start, end: i + 1, entities };
}

/**
 * Checks every reference outside comments, CDATA and processing instructions, and returns the decoder for the
 * text and attribute values fast-xml-parser hands over raw. An undefined entity, a character reference to a
 * character the platform's parser refuses (or, for CFPropertyList, reads as another), or entities that expand
 * to more than {@link maxEntityExpansion} characters: an {@link ImportError} naming the line.
 */
function checkReferences(
  text: string,
  file: string,
  reader: XmlReader,
  doctype: Doctype | undefined,
  lineOf: (offset: number) => number,
): (raw: string, inAttribute: boolean) => string {
  const entities = reader === "expat" ? (doctype?.entities ?? new Map<string, string>()) : new Map();
  const parser = reader === "expat" ? "an XML parser (expat, as Android's build)" : "CFPropertyList";
  const skip = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<!DOCTYPE|&/g;
  let expanded = 0;
  for (let m = skip.exec(text); m !== null; m = skip.exec(text)) {
    const at = m.index;
    const refuse = (why: string): never => {
      throw new ImportError({ file, line: lineOf(at) }, why);
    };
    if (m[0] === "<!DOCTYPE") {
      if (doctype?.start !== at) refuse("a DOCTYPE that is not in the prolog: not well-formed XML");
      skip.lastIndex = doctype!.end;
      continue;
    }
    if (m[0] !== "&") continue;
    referenceAt.lastIndex = at;
    const ref = referenceAt.exec(text);
    if (ref === null)
      refuse(`${short(text.slice(at, at + 12))} is not a reference: not well-formed XML (write & as &amp;)`);
    const [whole, hex, decimal, entity] = ref!;
    if (entity !== undefined) {
      if (predefined.has(entity)) continue;
      const value = entities.get(entity);
      if (value === undefined) {
        refuse(
          reader === "cfplist" && doctype?.entities.has(entity)
            ? `&${entity}; names a DTD entity: CFPropertyList reads only &lt; &gt; &amp; &apos; &quot; and character references, so iOS cannot read this plist`
            : `&${entity}; is not a defined entity: ${parser} refuses the file`,
        );
      }
      expanded += value!.length;
      if (expanded > maxEntityExpansion) {
        refuse(`the DTD's entities expand to more than ${maxEntityExpansion} characters; keypin stops there`);
      }
      continue;
    }
    const code = hex !== undefined ? Number.parseInt(hex, 16) : Number.parseInt(decimal!, 10);
    if (!isXmlChar(code)) {
      refuse(
        `${short(whole)} is not a character XML allows: ${reader === "expat" ? "an XML parser (expat, as Android's build) refuses the file" : "CFPropertyList reads it as some other value where an XML parser refuses the file"}`,
      );
    }
    if (reader === "cfplist" && code > 0xffff) {
      refuse(
        `${short(whole)} is beyond U+FFFF: CFPropertyList keeps 16 bits of a character reference and reads another character; write the character itself`,
      );
    }
  }
  const pattern = /&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|([^;&]+));/g;
  return (raw, inAttribute) =>
    raw.replace(pattern, (whole: string, hex?: string, decimal?: string, entity?: string) => {
      if (hex !== undefined) return String.fromCodePoint(Number.parseInt(hex, 16));
      if (decimal !== undefined) return String.fromCodePoint(Number.parseInt(decimal, 10));
      const value = predefined.get(entity!) ?? entities.get(entity!);
      if (value === undefined) throw new ImportError({ file }, `${short(whole)} is not a defined entity`);
      // XML 3.3.3: literal white space of an entity's text in an attribute value becomes a space.
      return inAttribute && reader === "expat" && !predefined.has(entity!)
        ? value.replace(/[\t\n\r]/g, " ")
        : value;
    });
}

/**
 * Parses `text` as XML, as `reader` does (see {@link XmlReader}). A document that is not well-formed, or that
 * keypin cannot be sure it reads as the platform does, is an {@link ImportError} naming the line. Nothing is
 * fetched; the DTD's plain-text entities are expanded for `expat` only.
 */
export function parseXml(input: string, file: string, reader: XmlReader = "expat"): XmlElement {
  // XML 2.11: an XML parser reads CRLF and a lone CR as LF (CFPropertyList keeps them).
  const text = reader === "expat" ? input.replace(/\r\n?/g, "\n") : input;
  const lineOf = lineIndex(text);
  const doctype = readDoctype(text, file, lineOf);
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    throw new ImportError({ file, line: valid.err.line }, `not well-formed XML: ${valid.err.msg}`);
  }
  const decode = checkReferences(text, file, reader, doctype, lineOf);
  const parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: "",
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    captureMetaData: true,
    processEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    commentPropName: "#comment",
    cdataPropName: "#cdata",
  });
  let nodes: OrderedNode[];
  try {
    nodes = parser.parse(text) as OrderedNode[];
  } catch (error) {
    throw new ImportError({ file }, `not readable as XML: ${(error as Error).message}`, { cause: error });
  }
  // XML 3.3.3: literal white space in an attribute value becomes a space (character references stay).
  const attribute = (raw: string) => decode(reader === "expat" ? raw.replace(/[\t\n\r]/g, " ") : raw, true);
  const convert = (node: OrderedNode): XmlElement | undefined => {
    const name = Object.keys(node).find((k) => k !== ":@");
    if (name === undefined || name === "#text" || name === "#comment" || name === "#cdata") return undefined;
    const meta = (node as Record<symbol, { startIndex?: number } | undefined>)[metadata];
    const kids = (node[name] as OrderedNode[] | undefined) ?? [];
    const element: XmlElement = {
      name,
      attributes: Object.fromEntries(
        Object.entries(node[":@"] ?? {}).map(([k, v]) => [k, attribute(String(v))]),
      ),
      children: [],
      text: "",
      rawText: "",
      line: meta?.startIndex !== undefined ? lineOf(meta.startIndex) : 1,
    };
    let own = "";
    for (const kid of kids) {
      if (typeof kid["#text"] === "string" || typeof kid["#text"] === "number")
        own += decode(String(kid["#text"]), false);
      const cdata = kid["#cdata"] as OrderedNode[] | undefined;
      if (cdata !== undefined) own += cdata.map((c) => String(c["#text"] ?? "")).join("");
      const child = convert(kid);
      if (child !== undefined) element.children.push(child);
    }
    element.rawText = own;
    element.text = own.trim();
    return element;
  };
  const roots = nodes.map(convert).filter((e): e is XmlElement => e !== undefined);
  if (roots.length !== 1) throw new ImportError({ file }, "not an XML document with one root element");
  return roots[0]!;
}
