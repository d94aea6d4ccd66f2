// Constant string expressions of Kotlin and Java source, read from tokens: literals, templates, `+`,
// constants of the same file, and arrays or lists of them. Anything else is reported, never guessed.
import { isIdent, isPunct, type Token, tokenText } from "./tokens.js";

/** What an expression statically is. */
export type Value =
  | { kind: "string"; value: string }
  | { kind: "array"; values: string[] }
  | { kind: "unknown"; why: string };

const collectionFactories = new Set([
  "arrayOf",
  "listOf",
  "setOf",
  "mutableListOf",
  "arrayListOf",
  "mutableSetOf",
  "hashSetOf",
  "linkedSetOf",
]);
const javaFactories = new Set(["Arrays.asList", "List.of", "Set.of"]);
const identitySuffixes = new Set(["toTypedArray", "toList", "toSet", "toMutableList"]);

/** Index of the token closing the bracket at `open`, or -1. */
export function matching(tokens: Token[], open: number): number {
  const pairs: Record<string, string> = { "(": ")", "[": "]", "{": "}" };
  const stack: string[] = [];
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== "punct") continue;
    if (t.value in pairs) stack.push(pairs[t.value]!);
    else if (t.value === ")" || t.value === "]" || t.value === "}") {
      if (stack.pop() !== t.value) return -1;
      if (stack.length === 0) return i;
    }
  }
  return -1;
}

/** Splits [start, end) at top-level commas into ranges. */
export function splitArgs(tokens: Token[], start: number, end: number): [number, number][] {
  const out: [number, number][] = [];
  let from = start;
  let depth = 0;
  for (let i = start; i < end; i++) {
    const t = tokens[i]!;
    if (t.kind === "punct" && "([{".includes(t.value)) depth++;
    else if (t.kind === "punct" && ")]}".includes(t.value)) depth--;
    else if (depth === 0 && isPunct(t, ",")) {
      out.push([from, i]);
      from = i + 1;
    }
  }
  if (from < end || out.length > 0) out.push([from, end]);
  return out.filter(([a, b]) => b > a);
}

/** The source text of a token range, for messages (at most 80 characters). */
export function rangeText(tokens: Token[], start: number, end: number): string {
  const text = tokens
    .slice(start, end)
    .map(tokenText)
    .join(" ")
    .replace(/ ?([.(),[\]]) ?/g, "$1");
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Evaluates expressions of one file. `lookup` resolves a constant of the file by name (or says why it
 * cannot); `consumed` collects the indices of the string tokens an evaluation read.
 */
export class Evaluator {
  constructor(
    private readonly tokens: Token[],
    private readonly lookup: (name: string, qualifier: string | undefined) => Value,
    readonly consumed: Set<number>,
  ) {}

  evaluate(start: number, end: number): Value {
    const t = this.tokens;
    while (isPunct(t[start], "(") && matching(t, start) === end - 1) {
      start++;
      end--;
    }
    if (start >= end) return { kind: "unknown", why: "an empty expression" };
    // a + b + …
    const parts: [number, number][] = [];
    let depth = 0;
    let from = start;
    for (let i = start; i < end; i++) {
      const tok = t[i]!;
      if (tok.kind === "punct" && "([{".includes(tok.value)) depth++;
      else if (tok.kind === "punct" && ")]}".includes(tok.value)) depth--;
      else if (depth === 0 && isPunct(tok, "+") && i > start) {
        parts.push([from, i]);
        from = i + 1;
      }
    }
    if (parts.length > 0) {
      parts.push([from, end]);
      let out = "";
      for (const [a, b] of parts) {
        const v = this.evaluate(a, b);
        if (v.kind !== "string")
          return v.kind === "unknown" ? v : { kind: "unknown", why: `${rangeText(t, a, b)} is not a string` };
        out += v.value;
      }
      return { kind: "string", value: out };
    }
    const first = t[start]!;
    if (isPunct(first, "*")) return this.evaluate(start + 1, end); // Kotlin spread: the array itself
    if (first.kind === "string" && end === start + 1) return this.stringToken(start);
    // Name, Qualifier.Name, Name.toTypedArray()
    if (first.kind === "ident") {
      const names: string[] = [first.value];
      let i = start + 1;
      while (isPunct(t[i], ".") && isIdent(t[i + 1]) && !isPunct(t[i + 2], "(")) {
        names.push((t[i + 1] as { value: string }).value);
        i += 2;
      }
      if (
        i + 3 < end + 1 &&
        isPunct(t[i], ".") &&
        isIdent(t[i + 1]) &&
        identitySuffixes.has((t[i + 1] as { value: string }).value) &&
        isPunct(t[i + 2], "(") &&
        isPunct(t[i + 3], ")") &&
        i + 4 === end
      ) {
        i += 4;
      }
      if (i === end) {
        const name = names[names.length - 1]!;
        const qualifier = names.length > 1 ? names.slice(0, -1).join(".") : undefined;
        return this.lookup(name, qualifier);
      }
      // arrayOf(…), listOf<String>(…), Arrays.asList(…), List.of(…)
      const callee = names.join(".");
      let open = i;
      if (isPunct(t[open], "<")) {
        while (open < end && !isPunct(t[open], ">")) open++;
        open++;
      }
      if (
        (collectionFactories.has(callee) || javaFactories.has(callee)) &&
        isPunct(t[open], "(") &&
        matching(t, open) === end - 1
      ) {
        return this.collection(open + 1, end - 1);
      }
      // new String[] { … }
      if (callee === "new" || first.value === "new") {
        const brace = t.findIndex((x, k) => k > start && k < end && isPunct(x, "{"));
        if (brace !== -1 && matching(t, brace) === end - 1) return this.collection(brace + 1, end - 1);
      }
    }
    // { … } (a Java array initializer)
    if (isPunct(first, "{") && matching(t, start) === end - 1) return this.collection(start + 1, end - 1);
    return { kind: "unknown", why: `${rangeText(t, start, end)} is computed at run time` };
  }

  private collection(start: number, end: number): Value {
    const values: string[] = [];
    for (const [a, b] of splitArgs(this.tokens, start, end)) {
      const v = this.evaluate(a, b);
      if (v.kind === "unknown") return v;
      if (v.kind === "string") values.push(v.value);
      else values.push(...v.values);
    }
    return { kind: "array", values };
  }

  private stringToken(index: number): Value {
    const tok = this.tokens[index] as Extract<Token, { kind: "string" }>;
    let out = "";
    for (const part of tok.parts) {
      if ("text" in part) out += part.text;
      else if ("ref" in part) {
        const names = part.ref.split(".");
        const v = this.lookup(
          names[names.length - 1]!,
          names.length > 1 ? names.slice(0, -1).join(".") : undefined,
        );
        if (v.kind !== "string")
          return v.kind === "unknown" ? v : { kind: "unknown", why: `$${part.ref} is not a string` };
        out += v.value;
      } else return { kind: "unknown", why: `\${${part.computed}} is computed at run time` };
    }
    this.consumed.add(index);
    return { kind: "string", value: out };
  }
}
