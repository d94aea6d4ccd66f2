import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { type LintFinding, type Policy, PolicyError, type PolicyProblem, validatePolicy } from "@keypin/core";
import {
  createScanner,
  type Node as JsonNode,
  type ParseError,
  parseTree,
  printParseErrorCode,
  type SyntaxKind,
} from "jsonc-parser";

/**
 * A policy problem located in a file: `path` is the JSON Pointer ("" for syntax errors).
 *
 * @example
 * for (const p of error.problems) console.error(`${p.file}:${p.line}:${p.column} ${p.path} ${p.message}`);
 */
export interface PolicyFileProblem extends PolicyProblem {
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

/**
 * A keypin.json that cannot be used: bad JSON syntax, duplicate keys, or a policy that core's validation
 * refuses. Code `ERR_KEYPIN_POLICY`, like core's PolicyError (which it extends); every problem carries
 * `file`, `line` and `column` as well as its JSON Pointer `path`.
 *
 * @example
 * try {
 *   await loadPolicyFile("keypin.json");
 * } catch (error) {
 *   if (error instanceof PolicyFileError) for (const p of error.problems) console.error(`${p.file}:${p.line}:${p.column} ${p.message}`);
 * }
 */
export class PolicyFileError extends PolicyError {
  /** The file that was read. */
  readonly file: string;
  override readonly problems: PolicyFileProblem[];

  constructor(file: string, problems: PolicyFileProblem[]) {
    super(problems);
    this.file = file;
    this.problems = problems;
    const lines = problems.map(
      (p) => `  ${p.file}:${p.line}:${p.column}${p.path ? ` ${p.path}` : ""}: ${p.message}`,
    );
    this.message = `${file} is not a valid keypin policy (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${lines.join("\n")}`;
  }
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function locate(starts: number[], offset: number): { line: number; column: number } {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (starts[mid]! <= offset) low = mid;
    else high = mid - 1;
  }
  return { line: low + 1, column: offset - starts[low]! + 1 };
}

function pointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, "~0").replace(/\//g, "~1");
}

/**
 * How deeply a keypin.json may nest brackets. A valid policy needs 5 levels (the document, "domains", an entry,
 * "pins", a pin object); the limit keeps every recursive walk (jsonc-parser's, this module's) far from the stack's
 * end, so 100,000 `[` give a policy error instead of a RangeError.
 */
const MAX_DEPTH = 64;

/**
 * The offset of the first `[` or `{` nested deeper than {@link MAX_DEPTH}, or undefined. One linear pass of
 * jsonc-parser's own scanner (iterative), so it sees exactly the brackets its recursive parser would.
 */
function tooDeepAt(text: string): number | undefined {
  const scanner = createScanner(text, true);
  let depth = 0;
  for (let token = scanner.scan(); token !== TOKEN.EOF; token = scanner.scan()) {
    if (token === TOKEN.OpenBracket || token === TOKEN.OpenBrace) {
      if (++depth > MAX_DEPTH) return scanner.getTokenOffset();
    } else if ((token === TOKEN.CloseBracket || token === TOKEN.CloseBrace) && depth > 0) {
      depth--;
    }
  }
  return undefined;
}

// jsonc-parser's SyntaxKind is a const enum, which verbatimModuleSyntax cannot import: its values, checked by type.
const TOKEN = {
  OpenBrace: 1 satisfies SyntaxKind.OpenBraceToken,
  CloseBrace: 2 satisfies SyntaxKind.CloseBraceToken,
  OpenBracket: 3 satisfies SyntaxKind.OpenBracketToken,
  CloseBracket: 4 satisfies SyntaxKind.CloseBracketToken,
  EOF: 17 satisfies SyntaxKind.EOF,
} as const;

// Each object node's properties by name (the first of duplicates), built once, so that locating many problems
// stays linear in the size of the document.
const propertyIndexes = new WeakMap<JsonNode, Map<string, JsonNode>>();

function propertyOf(node: JsonNode, name: string): JsonNode | undefined {
  let index = propertyIndexes.get(node);
  if (!index) {
    index = new Map();
    for (const property of node.children ?? []) {
      const key = property.children?.[0]?.value;
      if (typeof key === "string" && !index.has(key)) index.set(key, property);
    }
    propertyIndexes.set(node, index);
  }
  return index.get(name);
}

/** The node a JSON Pointer designates, or the deepest existing node on its way. */
function nodeAt(root: JsonNode, pointer: string): JsonNode {
  if (pointer === "") return root;
  let node = root;
  for (const raw of pointer.split("/").slice(1)) {
    const segment = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    let next: JsonNode | undefined;
    if (node.type === "object") {
      const property = propertyOf(node, segment);
      next = property?.children?.[1] ?? property;
    } else if (node.type === "array") {
      next = node.children?.[Number(segment)];
    }
    if (!next) return node;
    node = next;
  }
  return node;
}

function findDuplicateKeys(
  node: JsonNode,
  path: string,
  report: (offset: number, pointer: string, message: string) => void,
  starts: number[],
): void {
  if (node.type === "object") {
    const seen = new Map<string, number>();
    for (const property of node.children ?? []) {
      const keyNode = property.children?.[0];
      const valueNode = property.children?.[1];
      if (!keyNode) continue;
      const key = String(keyNode.value);
      const pointer = `${path}/${pointerSegment(key)}`;
      const first = seen.get(key);
      if (first !== undefined) {
        const at = locate(starts, first);
        report(
          keyNode.offset,
          pointer,
          `duplicate key "${key}" (first at line ${at.line}, column ${at.column}); JSON parsers keep only one ` +
            "of them, so remove or merge the other",
        );
      } else {
        seen.set(key, keyNode.offset);
      }
      if (valueNode) findDuplicateKeys(valueNode, pointer, report, starts);
    }
  } else if (node.type === "array") {
    (node.children ?? []).forEach((child, index) => {
      findDuplicateKeys(child, `${path}/${index}`, report, starts);
    });
  }
}

/**
 * Parses and validates the text of a keypin.json (strict JSON: no comments, no trailing commas). Throws
 * {@link PolicyFileError} (code `ERR_KEYPIN_POLICY`) listing every problem with `source:line:column`,
 * including brackets nested deeper than 64 levels (at the first one too deep). Linear in the text's length.
 *
 * @example
 * import { parsePolicyText } from "@keypin/node";
 * const { policy, warnings } = parsePolicyText(text, { source: "keypin.json" });
 */
export function parsePolicyText(
  text: string,
  options: { source?: string; now?: Date } = {},
): { policy: Policy; warnings: LintFinding[] } {
  const file = options.source ?? "<policy>";
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const starts = lineStarts(body);
  const problems: PolicyFileProblem[] = [];
  const add = (offset: number, path: string, message: string): void => {
    problems.push({ file, path, message, ...locate(starts, offset) });
  };
  const deep = tooDeepAt(body);
  if (deep !== undefined) {
    add(
      deep,
      "",
      `brackets nested deeper than ${MAX_DEPTH} levels; a keypin policy nests 5 (document, "domains", entry, "pins", pin object): this is not a keypin.json`,
    );
    throw new PolicyFileError(file, problems);
  }
  const errors: ParseError[] = [];
  let root: JsonNode | undefined;
  try {
    root = parseTree(body, errors, {
      disallowComments: true,
      allowTrailingComma: false,
      allowEmptyContent: false,
    });
  } catch (error) {
    // Not expected below MAX_DEPTH; should a walk still run out of stack, the caller gets a policy error.
    if (!(error instanceof RangeError)) throw error;
    add(0, "", `cannot parse the document: ${error.message}`);
    throw new PolicyFileError(file, problems);
  }
  for (const error of errors) {
    add(error.offset, "", `JSON syntax error: ${describeParseError(printParseErrorCode(error.error))}`);
  }
  if (problems.length > 0 || !root) {
    if (problems.length === 0) add(0, "", "JSON syntax error: the file is empty");
    throw new PolicyFileError(file, problems);
  }
  findDuplicateKeys(root, "", add, starts);
  if (problems.length > 0) throw new PolicyFileError(file, problems);

  const value: unknown = JSON.parse(body);
  const result = validatePolicy(value, options.now ? { now: options.now } : undefined);
  if (!result.ok) {
    for (const problem of result.problems)
      add(nodeAt(root, problem.path).offset, problem.path, problem.message);
    throw new PolicyFileError(file, problems);
  }
  return { policy: result.policy, warnings: result.warnings };
}

function describeParseError(code: string): string {
  const words: Record<string, string> = {
    InvalidSymbol: "unexpected character",
    InvalidNumberFormat: "invalid number",
    PropertyNameExpected: "expected a property name in double quotes (trailing commas are not allowed)",
    ValueExpected: "expected a value (trailing commas are not allowed)",
    ColonExpected: "expected ':'",
    CommaExpected: "expected ',' between entries",
    CloseBraceExpected: "expected '}'",
    CloseBracketExpected: "expected ']'",
    EndOfFileExpected: "unexpected content after the end of the document",
    InvalidCommentToken: "comments are not allowed in keypin.json",
    UnexpectedEndOfComment: "unterminated comment",
    UnexpectedEndOfString: "unterminated string",
    UnexpectedEndOfNumber: "unterminated number",
    InvalidUnicode: "invalid \\u escape",
    InvalidEscapeCharacter: "invalid escape character",
    InvalidCharacter: "invalid character in string",
  };
  return words[code] ?? code;
}

function readFailure(path: string, error: unknown): PolicyError {
  const problem: PolicyFileProblem = {
    file: path,
    path: "",
    line: 1,
    column: 1,
    message: `cannot read the file: ${(error as Error).message}`,
  };
  return new PolicyFileError(path, [problem]);
}

/**
 * The largest keypin.json {@link loadPolicyFile} reads: 16 MiB (a policy of 10,000 domains is about 3 MiB).
 * A larger file is refused, as `/dev/zero` would otherwise fill the memory.
 */
const MAX_POLICY_FILE_BYTES = 16 * 1024 * 1024;

const tooLarge = `it is larger than ${MAX_POLICY_FILE_BYTES / 1024 / 1024} MiB, the most keypin reads from a policy`;

// Opening a FIFO for reading blocks until a writer comes; O_NONBLOCK returns at once, and fstat then tells
// what it is. (No effect on regular files; Windows has no such flag.)
const openFlags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Why a file cannot be a policy before a byte is read: not a regular file, or too large. */
function unreadableKind(stats: Stats): string | undefined {
  if (stats.isDirectory()) return "it is a directory, not a file";
  if (stats.isFIFO()) return "it is a FIFO (named pipe), not a regular file";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "it is a device, not a regular file";
  if (!stats.isFile()) return "it is not a regular file";
  if (stats.size > MAX_POLICY_FILE_BYTES) return tooLarge;
  return undefined;
}

function readProblem(path: string, why: string): PolicyError {
  return readFailure(path, new Error(why));
}

/** Decodes what was read as `readFile(path, "utf8")` does, refusing more than the cap (a file that grew). */
function decodeCapped(path: string, chunks: Buffer[], length: number): string {
  if (length > MAX_POLICY_FILE_BYTES) throw readProblem(path, tooLarge);
  return Buffer.concat(chunks, length).toString("utf8");
}

async function readPolicyText(path: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, openFlags);
  } catch (error) {
    throw readFailure(path, error);
  }
  try {
    let stats: Stats;
    try {
      stats = await handle.stat();
    } catch (error) {
      throw readFailure(path, error);
    }
    const why = unreadableKind(stats);
    if (why !== undefined) throw readProblem(path, why);
    const chunks: Buffer[] = [];
    let length = 0;
    while (length <= MAX_POLICY_FILE_BYTES) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(chunk, 0, chunk.length, null));
      } catch (error) {
        throw readFailure(path, error);
      }
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
    }
    return decodeCapped(path, chunks, length);
  } finally {
    await handle.close().catch(() => {});
  }
}

function readPolicyTextSync(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, openFlags);
  } catch (error) {
    throw readFailure(path, error);
  }
  try {
    let stats: Stats;
    try {
      stats = fstatSync(fd);
    } catch (error) {
      throw readFailure(path, error);
    }
    const why = unreadableKind(stats);
    if (why !== undefined) throw readProblem(path, why);
    const chunks: Buffer[] = [];
    let length = 0;
    while (length <= MAX_POLICY_FILE_BYTES) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      let bytesRead: number;
      try {
        bytesRead = readSync(fd, chunk, 0, chunk.length, null);
      } catch (error) {
        throw readFailure(path, error);
      }
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
    }
    return decodeCapped(path, chunks, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads and validates a keypin.json. JSON syntax errors, duplicate keys and policy problems are all reported
 * at once, each with `file:line:column` and its JSON Pointer, in a {@link PolicyFileError}
 * (code `ERR_KEYPIN_POLICY`). Comments and trailing commas are errors: keypin.json is strict JSON.
 * The path must name a regular file of at most 16 MiB: a FIFO, a device (`/dev/zero`), a socket or a
 * directory is refused before anything is read (so nothing blocks), and so is a larger file, with the same
 * `PolicyFileError` ("cannot read the file: …").
 *
 * @example
 * import { loadPolicyFile } from "@keypin/node";
 * const { policy, warnings } = await loadPolicyFile("keypin.json");
 * for (const w of warnings) console.warn(`${w.code} ${w.path}: ${w.message}`);
 */
export async function loadPolicyFile(path: string): Promise<{ policy: Policy; warnings: LintFinding[] }> {
  return parsePolicyText(await readPolicyText(path), { source: path });
}

/** Synchronous {@link loadPolicyFile}, for building clients from a policy path. */
export function loadPolicyFileSync(path: string): { policy: Policy; warnings: LintFinding[] } {
  return parsePolicyText(readPolicyTextSync(path), { source: path });
}
