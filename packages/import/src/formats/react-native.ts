// React Native: the object passed to react-native-ssl-public-key-pinning's initializeSslPinning(…),
// parsed with @babel/parser (TypeScript, JSX and Flow sources).
import { parse } from "@babel/parser";
import { maxNesting, maxValueLength } from "../code/expressions.js";
import { Findings, readHost, readPin, short, spellingProblem } from "../common.js";
import { isCalendarDate, lastPinnedDay } from "../dates.js";
import { ImportError } from "../errors.js";
import type { ImportedDomain, ImportedPin, ImportedSource, Place } from "../types.js";

const platform = "React Native";

/** The part of a Babel AST node this reader looks at. */
interface AstNode {
  type: string;
  loc?: { start: { line: number } } | null;
  [key: string]: unknown;
}

type Value =
  | { kind: "string"; value: string; node: AstNode }
  | { kind: "boolean"; value: boolean; node: AstNode }
  | { kind: "array"; items: Value[]; node: AstNode }
  | { kind: "object"; entries: { key: string; value: Value; node: AstNode }[]; node: AstNode }
  | { kind: "unknown"; why: string; node: AstNode };

const wrappers = new Set([
  "TSAsExpression",
  "TSSatisfiesExpression",
  "TSNonNullExpression",
  "TSTypeAssertion",
  "TypeCastExpression",
  "ParenthesizedExpression",
]);

function isNode(value: unknown): value is AstNode {
  return typeof value === "object" && value !== null && typeof (value as AstNode).type === "string";
}

function children(node: AstNode): AstNode[] {
  const out: AstNode[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === "loc" || key === "leadingComments" || key === "trailingComments" || key === "innerComments")
      continue;
    if (Array.isArray(value)) for (const v of value) if (isNode(v)) out.push(v);
    if (isNode(value)) out.push(value);
  }
  return out;
}

/**
 * Reads the options of every `initializeSslPinning({…})` call: host keys, `includeSubdomains`,
 * `publicKeyHashes`, `expirationDate` (the library's first unpinned day, converted to keypin's last pinned day).
 * Constants of the same file are followed; anything computed at run time is reported with its line.
 */
export function importReactNative(text: string, file: string): ImportedSource {
  const ts = /\.(c|m)?tsx?$/i.test(file);
  const jsx = !/\.(c|m)?ts$/i.test(file);
  let ast: AstNode;
  try {
    ast = parse(text, {
      sourceType: "unambiguous",
      plugins: ts ? (jsx ? ["typescript", "jsx"] : ["typescript"]) : ["jsx", "flow"],
    }) as unknown as AstNode;
  } catch (error) {
    const loc = (error as { loc?: { line: number } }).loc;
    const reason = ((error as Error).message ?? "").replace(/\s*\(\d+:\d+\)$/, "");
    throw new ImportError(
      loc ? { file, line: loc.line } : { file },
      `not readable as JavaScript/TypeScript: ${reason}`,
      { cause: error },
    );
  }
  const findings = new Findings();
  const at = (node: AstNode): Place => (node.loc ? { file, line: node.loc.start.line } : { file });

  // const NAME = …, everywhere in the file; a name declared twice or reassigned is not a constant.
  const bindings = new Map<string, { init: AstNode | undefined; constant: boolean }[]>();
  const reassigned = new Set<string>();
  const calls: AstNode[] = [];
  const walk = (node: AstNode): void => {
    if (node.type === "VariableDeclaration") {
      for (const d of (node.declarations as AstNode[]) ?? []) {
        const id = d.id as AstNode;
        if (id.type !== "Identifier") continue;
        const name = id.name as string;
        const binding = { init: (d.init as AstNode | null) ?? undefined, constant: node.kind === "const" };
        const same = bindings.get(name);
        if (same === undefined) bindings.set(name, [binding]);
        else same.push(binding);
      }
    }
    if (node.type === "AssignmentExpression" && (node.left as AstNode).type === "Identifier") {
      reassigned.add((node.left as AstNode).name as string);
    }
    if (node.type === "CallExpression") {
      const callee = node.callee as AstNode;
      const name =
        callee.type === "Identifier"
          ? callee.name
          : callee.type === "MemberExpression" && (callee.property as AstNode).type === "Identifier"
            ? (callee.property as AstNode).name
            : undefined;
      if (name === "initializeSslPinning") calls.push(node);
    }
    for (const c of children(node)) walk(c);
  };
  walk(ast);

  const resolving = new Set<string>();
  // Each const is evaluated once (A1 = A0 + A0, A2 = A1 + A1, … would otherwise double the work per line);
  // a value that met a cycle or the nesting limit is not kept, so that each name reports its own. Values are capped, and all
  // evaluation spends from one budget proportional to the file.
  const known = new Map<string, Value>();
  let cycles = 0;
  const maxSteps = 1_000_000 + 16 * text.length;
  let steps = maxSteps;
  const spend = (n: number) => {
    steps -= n;
    if (steps < 0)
      throw new ImportError(
        { file },
        `its constants and expressions take more than ${maxSteps} steps to evaluate (a file of ${text.length} characters needs far fewer); keypin does not import it`,
      );
  };
  const tooMany = (what: string, node: AstNode): Value => ({
    kind: "unknown",
    why: `${what} with more than ${maxValueLength} items`,
    node,
  });
  let depth = 0;
  const evaluate = (node: AstNode): Value => {
    if (depth >= maxNesting) {
      cycles++; // as a cycle: the value depends on where it was asked for, so it is not kept
      return { kind: "unknown", why: `it nests more than ${maxNesting} expressions or constants deep`, node };
    }
    depth++;
    try {
      return evaluateNode(node);
    } finally {
      depth--;
    }
  };
  const evaluateNode = (node: AstNode): Value => {
    spend(1);
    while (wrappers.has(node.type)) node = node.expression as AstNode;
    switch (node.type) {
      case "StringLiteral":
        return { kind: "string", value: node.value as string, node };
      case "BooleanLiteral":
        return { kind: "boolean", value: node.value as boolean, node };
      case "TemplateLiteral": {
        if ((node.expressions as AstNode[]).length > 0)
          return { kind: "unknown", why: "a template with placeholders is computed at run time", node };
        const quasi = (node.quasis as AstNode[])[0]!;
        return { kind: "string", value: (quasi.value as { cooked: string }).cooked, node };
      }
      case "BinaryExpression": {
        if (node.operator !== "+") break;
        const a = evaluate(node.left as AstNode);
        const b = evaluate(node.right as AstNode);
        if (a.kind === "string" && b.kind === "string") {
          if (a.value.length + b.value.length > maxValueLength)
            return {
              kind: "unknown",
              why: `a sum longer than ${maxValueLength} characters, which no pin or host is`,
              node,
            };
          spend(a.value.length + b.value.length);
          return { kind: "string", value: a.value + b.value, node };
        }
        return a.kind === "unknown"
          ? a
          : b.kind === "unknown"
            ? b
            : { kind: "unknown", why: "a sum that is not of strings", node };
      }
      case "ArrayExpression": {
        const items: Value[] = [];
        for (const el of node.elements as (AstNode | null)[]) {
          if (el === null) continue;
          if (el.type === "SpreadElement") {
            const inner = evaluate(el.argument as AstNode);
            if (inner.kind !== "array")
              return inner.kind === "unknown"
                ? inner
                : { kind: "unknown", why: "a spread of something that is not an array", node: el };
            if (items.length + inner.items.length > maxValueLength) return tooMany("an array", node);
            spend(inner.items.length);
            for (const item of inner.items) items.push(item);
          } else {
            if (items.length + 1 > maxValueLength) return tooMany("an array", node);
            items.push(evaluate(el));
          }
        }
        return { kind: "array", items, node };
      }
      case "ObjectExpression": {
        const entries: { key: string; value: Value; node: AstNode }[] = [];
        for (const p of node.properties as AstNode[]) {
          if (p.type === "SpreadElement") {
            const inner = evaluate(p.argument as AstNode);
            if (inner.kind !== "object")
              return inner.kind === "unknown"
                ? inner
                : { kind: "unknown", why: "a spread of something that is not an object", node: p };
            if (entries.length + inner.entries.length > maxValueLength) return tooMany("an object", node);
            spend(inner.entries.length);
            for (const entry of inner.entries) entries.push(entry);
            continue;
          }
          if (p.type !== "ObjectProperty")
            return { kind: "unknown", why: `a ${p.type} in the options`, node: p };
          const keyNode = p.key as AstNode;
          const key = p.computed
            ? evaluate(keyNode)
            : keyNode.type === "Identifier"
              ? { kind: "string" as const, value: keyNode.name as string, node: keyNode }
              : evaluate(keyNode);
          if (key.kind !== "string") return { kind: "unknown", why: "a computed key", node: p };
          entries.push({ key: key.value, value: evaluate(p.value as AstNode), node: p });
        }
        return { kind: "object", entries, node };
      }
      case "Identifier": {
        const name = node.name as string;
        const found = bindings.get(name) ?? [];
        if (
          found.length !== 1 ||
          !found[0]!.constant ||
          found[0]!.init === undefined ||
          reassigned.has(name)
        ) {
          return { kind: "unknown", why: `${name} is not a const of this file with one value`, node };
        }
        if (resolving.has(name)) {
          cycles++;
          return { kind: "unknown", why: `${name} refers to itself`, node };
        }
        const cached = known.get(name);
        if (cached !== undefined) return cached;
        resolving.add(name);
        const cyclesBefore = cycles;
        try {
          const value = evaluate(found[0]!.init);
          if (cycles === cyclesBefore) known.set(name, value);
          return value;
        } finally {
          resolving.delete(name);
        }
      }
    }
    return { kind: "unknown", why: `a ${node.type} is computed at run time`, node };
  };

  const domains: ImportedDomain[] = [];
  for (const call of calls) {
    const [arg] = call.arguments as AstNode[];
    if (arg === undefined) {
      findings.add("unreadable", at(call), "initializeSslPinning() without options; nothing imported");
      continue;
    }
    const options = evaluate(arg);
    if (options.kind !== "object") {
      const why = options.kind === "unknown" ? options.why : `it is a ${options.kind}`;
      findings.add(
        "unreadable",
        at(options.node),
        `the options of initializeSslPinning cannot be read statically (${why}); nothing imported from this call`,
      );
      continue;
    }
    for (const entry of options.entries) domains.push(...readEntry(entry, at, findings));
  }
  if (calls.length === 0) {
    throw new ImportError(
      { file },
      "no initializeSslPinning(…) call: this file pins nothing keypin can read",
    );
  }
  const seen = new Map<string, ImportedDomain>();
  for (const d of domains) {
    const before = seen.get(d.domain);
    if (before !== undefined && before !== d) {
      findings.add(
        "changed",
        d.place,
        `${d.domain} is configured again (first at ${before.place.line ?? "?"}); the later call replaces the earlier one`,
        d.domain,
      );
    }
    seen.set(d.domain, d);
  }
  return {
    file,
    format: "react-native",
    platform,
    domains: [...seen.values()],
    findings: findings.list,
    expresses: { expires: true, reportUris: false, reportOnly: false },
  };
}

function readEntry(
  entry: { key: string; value: Value; node: AstNode },
  at: (node: AstNode) => Place,
  findings: Findings,
): ImportedDomain[] {
  const host = readHost(entry.key);
  if (host === undefined) {
    findings.add("unreadable", at(entry.node), `${short(entry.key)} is not a host name; not imported`);
    return [];
  }
  // iOS: the library hands the keys to TrustKit, an exact dictionary lookup; Android: to OkHttp's CertificatePinner.
  const onIos = spellingProblem(entry.key, host, "literal");
  const onAndroid = spellingProblem(entry.key, host, "okhttp");
  if (onIos !== undefined || onAndroid !== undefined) {
    const where = [
      onIos !== undefined ? "on iOS TrustKit looks the host up as an exact key" : undefined,
      onAndroid !== undefined
        ? "on Android OkHttp compares its canonical host (IDNA, lowercase, nothing else)"
        : undefined,
    ].filter((x) => x !== undefined);
    findings.add(
      "not-applied",
      at(entry.node),
      `the key ${short(entry.key)} has ${onIos ?? onAndroid}: ${where.join(" and ")}, so the library never applies its pins there to the host the app connects to (${short(host)}); not imported (write the key as ${short(host)})`,
      host,
    );
    return [];
  }
  if (entry.value.kind !== "object") {
    const why = entry.value.kind === "unknown" ? entry.value.why : `it is a ${entry.value.kind}`;
    findings.add(
      "unreadable",
      at(entry.node),
      `the options for ${host} cannot be read statically (${why}); not imported`,
      host,
    );
    return [];
  }
  const domain: ImportedDomain = {
    domain: host,
    includeSubdomains: false,
    pins: [],
    mode: "enforce",
    reportUris: [],
    place: at(entry.node),
  };
  for (const field of entry.value.entries) {
    const v = field.value;
    const place = at(field.node);
    if (v.kind === "unknown") {
      findings.add(
        "unreadable",
        place,
        `${host}'s ${field.key} cannot be read statically (${v.why})${field.key === "publicKeyHashes" ? "; not imported" : ""}`,
        host,
        field.key === "publicKeyHashes" ? "pins" : undefined,
      );
      if (
        field.key === "publicKeyHashes" ||
        field.key === "includeSubdomains" ||
        field.key === "expirationDate"
      )
        return [];
      continue;
    }
    switch (field.key) {
      case "includeSubdomains":
        if (v.kind !== "boolean")
          throw new ImportError(place, `${host}'s includeSubdomains is not true or false`);
        domain.includeSubdomains = v.value;
        break;
      case "publicKeyHashes":
        if (v.kind !== "array") throw new ImportError(place, `${host}'s publicKeyHashes is not an array`);
        for (const item of v.items) {
          const itemPlace = at(item.node);
          if (item.kind !== "string") {
            findings.add(
              "unreadable",
              itemPlace,
              `a hash for ${host} cannot be read statically (${item.kind === "unknown" ? item.why : `a ${item.kind}`}); not imported`,
              host,
              "pins",
            );
            continue;
          }
          const read = readPin(item.value);
          if ("problem" in read)
            findings.add("dropped", itemPlace, `${read.problem}; not imported for ${host}`, host, "pins");
          else if (!domain.pins.some((p: ImportedPin) => p.pin === read.pin))
            domain.pins.push({ pin: read.pin, place: itemPlace });
        }
        break;
      case "expirationDate": {
        if (v.kind !== "string" || !isCalendarDate(v.value)) {
          throw new ImportError(place, `${host}'s expirationDate must be a yyyy-MM-dd string`);
        }
        domain.expires = lastPinnedDay(v.value)!;
        break;
      }
      default:
        findings.add(
          "dropped",
          place,
          `${host}'s option ${short(field.key)} is not one keypin knows; not imported`,
          host,
        );
    }
  }
  if (domain.pins.length === 0) {
    findings.add("dropped", domain.place, `${host} has no pins keypin can read; not imported`, host);
    return [];
  }
  if (domain.pins.length < 2) {
    findings.add(
      "changed",
      domain.place,
      `on iOS the library runs TrustKit, which refuses fewer than two pins for ${host} (${domain.pins.length} here); imported as is`,
      host,
      "pins",
    );
  }
  return [domain];
}
