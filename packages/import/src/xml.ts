// A small element tree over fast-xml-parser, with the line each element starts on.
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { ImportError } from "./errors.js";
import { lineIndex } from "./place.js";

/** One XML element: its name, attributes, child elements, text (entities resolved) and line. */
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

const metadata = XMLParser.getMetaDataSymbol() as unknown as symbol;

type OrderedNode = Record<string, unknown> & { ":@"?: Record<string, string> };

/**
 * Parses `text` as XML. A document that is not well-formed is an {@link ImportError} naming the line.
 * Internal DTD entities are expanded (as Android's and Apple's parsers do); nothing is fetched.
 */
export function parseXml(text: string, file: string): XmlElement {
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    throw new ImportError({ file, line: valid.err.line }, `not well-formed XML: ${valid.err.msg}`);
  }
  const parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: "",
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    captureMetaData: true,
    processEntities: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
    commentPropName: "#comment",
  });
  let nodes: OrderedNode[];
  try {
    nodes = parser.parse(text) as OrderedNode[];
  } catch (error) {
    throw new ImportError({ file }, `not readable as XML: ${(error as Error).message}`, { cause: error });
  }
  const lineOf = lineIndex(text);
  const convert = (node: OrderedNode): XmlElement | undefined => {
    const name = Object.keys(node).find((k) => k !== ":@");
    if (name === undefined || name === "#text" || name === "#comment") return undefined;
    const meta = (node as Record<symbol, { startIndex?: number } | undefined>)[metadata];
    const kids = (node[name] as OrderedNode[] | undefined) ?? [];
    const element: XmlElement = {
      name,
      attributes: { ...(node[":@"] ?? {}) },
      children: [],
      text: "",
      rawText: "",
      line: meta?.startIndex !== undefined ? lineOf(meta.startIndex) : 1,
    };
    let own = "";
    for (const kid of kids) {
      if (typeof kid["#text"] === "string" || typeof kid["#text"] === "number") own += String(kid["#text"]);
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
