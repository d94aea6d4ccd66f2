// React Native: the object passed to react-native-ssl-public-key-pinning's initializeSslPinning(…),
// parsed with @babel/parser (TypeScript, JSX and Flow sources).
import { parse } from "@babel/parser";
import { maxNesting, maxValueLength } from "../code/expressions.js";
import { type AstNode, encloses, readNames, wrappers } from "../code/js-names.js";
import { Findings, readHost, readPin, short, spellingProblem } from "../common.js";
import { isCalendarDate, lastPinnedDay } from "../dates.js";
import { ImportError } from "../errors.js";
import type { ImportedDomain, ImportedPin, ImportedSource, Place } from "../types.js";

const platform = "React Native";

type Value =
  | { kind: "string"; value: string; node: AstNode }
  | { kind: "boolean"; value: boolean; node: AstNode }
  | { kind: "array"; items: Value[]; node: AstNode }
  | {
      kind: "object";
      /** The object JavaScript builds: one entry per key, the last value written, in first-written order. */
      entries: ObjectEntry[];
      /** Keys this literal writes twice itself: the earlier value is what JavaScript drops. */
      overridden: { entry: ObjectEntry; by: AstNode }[];
      node: AstNode;
    }
  | { kind: "unknown"; why: string; node: AstNode };

interface ObjectEntry {
  key: string;
  value: Value;
  node: AstNode;
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

  // Constants are resolved by name (see js-names.ts for the names refused: bound twice or another way,
  // outside the use's block, reassigned or changed in place).
  const calls: AstNode[] = [];
  const { bindings, otherwise, reassigned, mutated, unsafeUse } = readNames(ast, (node) => {
    if (node.type !== "CallExpression") return;
    const callee = node.callee as AstNode;
    const name =
      callee.type === "Identifier"
        ? callee.name
        : callee.type === "MemberExpression" && (callee.property as AstNode).type === "Identifier"
          ? (callee.property as AstNode).name
          : undefined;
    if (name === "initializeSslPinning") calls.push(node);
  });
  const line = (node: AstNode) => node.loc?.start.line;

  // Whether an expression is a string, number or boolean (so nothing reached through it changes an array or
  // object), and whether a const's members all are: read from the source, not evaluated, and bounded.
  const isPrimitive = (node: AstNode, depth: number): boolean => {
    while (wrappers.has(node.type)) node = node.expression as AstNode;
    switch (node.type) {
      case "StringLiteral":
      case "NumericLiteral":
      case "BooleanLiteral":
      case "NullLiteral":
      case "TemplateLiteral":
      case "BinaryExpression":
      case "UnaryExpression":
        return true;
      case "Identifier": {
        const found = bindings.get(node.name as string) ?? [];
        return (
          depth < maxNesting &&
          found.length === 1 &&
          found[0]!.constant &&
          found[0]!.init !== undefined &&
          isPrimitive(found[0]!.init, depth + 1)
        );
      }
    }
    return false;
  };
  const hasPrimitiveMembers = (node: AstNode, depth: number): boolean => {
    while (wrappers.has(node.type)) node = node.expression as AstNode;
    if (depth >= maxNesting) return false;
    if (node.type === "Identifier") {
      const found = bindings.get(node.name as string) ?? [];
      return (
        found.length === 1 &&
        found[0]!.constant &&
        found[0]!.init !== undefined &&
        hasPrimitiveMembers(found[0]!.init, depth + 1)
      );
    }
    const parts =
      node.type === "ArrayExpression"
        ? (node.elements as (AstNode | null)[])
        : node.type === "ObjectExpression"
          ? (node.properties as AstNode[]).map((p) =>
              p.type === "ObjectProperty" ? (p.value as AstNode) : p,
            )
          : undefined;
    if (parts === undefined) return false;
    return parts.every(
      (p) =>
        p === null ||
        (p.type === "SpreadElement"
          ? hasPrimitiveMembers(p.argument as AstNode, depth + 1)
          : isPrimitive(p, depth + 1)),
    );
  };
  const primitiveMemo = new Map<string, boolean>();
  const primitive = (name: string): boolean => {
    let known = primitiveMemo.get(name);
    if (known === undefined) {
      const found = bindings.get(name) ?? [];
      spend(1);
      known = found.length === 1 && found[0]!.init !== undefined && hasPrimitiveMembers(found[0]!.init, 0);
      primitiveMemo.set(name, known);
    }
    return known;
  };

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
        // JavaScript's object: a key written again (by a property or a spread) keeps its first place and takes
        // the last value, so { ...base, publicKeyHashes: [P3] } has P3 alone, not base's pins too.
        const entries = new Map<string, ObjectEntry>();
        const written = new Map<string, ObjectEntry>();
        const overridden: { entry: ObjectEntry; by: AstNode }[] = [];
        for (const p of node.properties as AstNode[]) {
          if (p.type === "SpreadElement") {
            const inner = evaluate(p.argument as AstNode);
            if (inner.kind !== "object")
              return inner.kind === "unknown"
                ? inner
                : { kind: "unknown", why: "a spread of something that is not an object", node: p };
            if (entries.size + inner.entries.length > maxValueLength) return tooMany("an object", node);
            spend(inner.entries.length);
            for (const entry of inner.entries) {
              entries.set(entry.key, entry);
              written.delete(entry.key);
            }
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
          if (entries.size + 1 > maxValueLength) return tooMany("an object", node);
          const entry = { key: key.value, value: evaluate(p.value as AstNode), node: p };
          const before = written.get(key.value);
          if (before !== undefined) overridden.push({ entry: before, by: p });
          entries.set(key.value, entry);
          written.set(key.value, entry);
        }
        return { kind: "object", entries: [...entries.values()], overridden, node };
      }
      case "Identifier": {
        const name = node.name as string;
        const found = bindings.get(name) ?? [];
        const other = otherwise.get(name);
        if (other !== undefined && found.length > 0)
          return {
            kind: "unknown",
            why: `${name} is also ${other.how} (line ${other.line ?? "?"}), which may hide the const; keypin does not follow scopes (rename one of them)`,
            node,
          };
        if (mutated.has(name) && found.length > 0)
          return {
            kind: "unknown",
            why: `${name} is changed in place (line ${mutated.get(name) ?? "?"}), so its value depends on run time`,
            node,
          };
        const scope = found[0]?.scope;
        if (found.length === 1 && scope !== undefined && !encloses(scope, node))
          return {
            kind: "unknown",
            why: `${name} is declared in a block that does not hold this use (line ${line(scope) ?? "?"})`,
            node,
          };
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
          let value = evaluate(found[0]!.init);
          // An array or object is read only if no use may change it: every use is a read (js-names.ts).
          if (value.kind === "array" || value.kind === "object") {
            const use = unsafeUse(name, primitive);
            if (use !== undefined)
              value = {
                kind: "unknown",
                why: `${name} is used at line ${use.line ?? "?"} (${use.via === undefined ? "" : `as ${use.via}: `}${use.how}), where keypin cannot tell that it stays as declared, so its value depends on run time`,
                node,
              };
          }
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
    reportOverridden(options, at, findings);
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

/** A key an object literal writes twice: JavaScript keeps the last value; the earlier one is not imported. */
function reportOverridden(
  object: Extract<Value, { kind: "object" }>,
  at: (node: AstNode) => Place,
  findings: Findings,
  host?: string,
): void {
  for (const { entry, by } of object.overridden) {
    const host0 = host ?? readHost(entry.key);
    findings.add(
      "dropped",
      at(entry.node),
      `${host === undefined ? "the key" : `${host}'s`} ${short(entry.key)} is written again at line ${at(by).line ?? "?"} of the same object; JavaScript keeps the last value, so this one is not imported`,
      host0,
    );
  }
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
  reportOverridden(entry.value, at, findings, host);
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
