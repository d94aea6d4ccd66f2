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

const closers: Record<string, string> = { "(": ")", "[": "]", "{": "}" };
const isOpen = (t: Token | undefined) => t !== undefined && t.kind === "punct" && t.value in closers;
const isClose = (t: Token | undefined) =>
  t !== undefined && t.kind === "punct" && (t.value === ")" || t.value === "]" || t.value === "}");

const pairTables = new WeakMap<Token[], Int32Array>();

/**
 * For every opening bracket, the index of the token that closes it (-1 when none does: a closer of another
 * kind comes first, or the file ends). Computed once per token list in one pass, so that finding a match
 * costs nothing however deeply brackets nest.
 */
function bracketPairs(tokens: Token[]): Int32Array {
  const known = pairTables.get(tokens);
  if (known !== undefined) return known;
  const pairs = new Int32Array(tokens.length).fill(-1);
  const stack: number[] = [];
  tokens.forEach((t, i) => {
    if (isOpen(t)) stack.push(i);
    else if (isClose(t) && stack.length > 0) {
      const open = stack[stack.length - 1]!;
      if (closers[(tokens[open] as { value: string }).value] === (t as { value: string }).value) {
        pairs[open] = i;
        stack.pop();
      } else stack.length = 0; // every bracket still open meets this closer first: none of them closes
    }
  });
  pairTables.set(tokens, pairs);
  return pairs;
}

/** Index of the token closing the bracket at `open`, or -1. */
export function matching(tokens: Token[], open: number): number {
  return bracketPairs(tokens)[open] ?? -1;
}

const depthTables = new WeakMap<Token[], Int32Array>();

/**
 * For a scan that counts bracket depth (any closer closes any opener), the closer that brings it back to
 * its depth at the opener `i`; -1 when no closer does (the rest of the tokens are deeper). One pass per
 * token list, so such scans can jump over groups instead of walking them again at every level.
 */
export function depthClose(tokens: Token[], i: number): number {
  let table = depthTables.get(tokens);
  if (table === undefined) {
    const built = new Int32Array(tokens.length).fill(-1);
    const stack: number[] = [];
    tokens.forEach((t, k) => {
      if (isOpen(t)) stack.push(k);
      else if (isClose(t) && stack.length > 0) built[stack.pop()!] = k;
    });
    depthTables.set(tokens, built);
    table = built;
  }
  return table[i] ?? -1;
}

/**
 * Where a depth-counting scan of [i, end) that is at `depth` goes after token `i`: past the group when
 * `i` opens one that closes before `end`; to `end` when it opens one that does not and the scan is at
 * depth 0 or more (nothing after it is at depth 0); else `i + 1`, the token counted as before.
 */
export function scanNext(tokens: Token[], i: number, end: number, depth: number): number | "count" {
  if (!isOpen(tokens[i])) return "count";
  const close = depthClose(tokens, i);
  if (close !== -1 && close < end) return close + 1;
  return depth >= 0 ? end : "count";
}

/** Splits [start, end) at top-level commas into ranges. */
export function splitArgs(tokens: Token[], start: number, end: number): [number, number][] {
  const out: [number, number][] = [];
  let from = start;
  let depth = 0;
  for (let i = start; i < end; i++) {
    const next = scanNext(tokens, i, end, depth);
    if (next !== "count") {
      i = next - 1;
      continue;
    }
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
    .slice(start, Math.min(end, start + 81)) // every token shows at least one character
    .map(tokenText)
    .join(" ")
    .replace(/ ?([.(),[\]]) ?/g, "$1");
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The longest string, and the most items of an array, an expression may evaluate to. */
export const maxValueLength = 65_536;
/** How deeply expressions and the constants they name may nest. */
export const maxNesting = 200;

/** What one file's evaluations may spend: `steps` units of work (a token looked at, a character built). */
export interface EvaluationBudget {
  steps: number;
  /** The error to throw when the steps run out. */
  exhausted: () => Error;
}

/**
 * Evaluates expressions of one file. `lookup` resolves a constant of the file by name (or says why it
 * cannot); `consumed` collects the indices of the string tokens an evaluation read. Each evaluation
 * spends from `budget`, so the work stays proportional to the file however its constants refer to each other.
 */
export class Evaluator {
  private depth = 0;
  /** How often an evaluation stopped at maxNesting (a value that did depends on where it was asked for). */
  stoppedDeep = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly lookup: (name: string, qualifier: string | undefined) => Value,
    readonly consumed: Set<number>,
    private readonly budget: EvaluationBudget,
  ) {}

  private spend(steps: number): void {
    this.budget.steps -= steps;
    if (this.budget.steps < 0) throw this.budget.exhausted();
  }

  evaluate(start: number, end: number): Value {
    if (this.depth >= maxNesting) {
      this.stoppedDeep++;
      return { kind: "unknown", why: `it nests more than ${maxNesting} expressions or constants deep` };
    }
    this.depth++;
    try {
      return this.evaluateRange(start, end);
    } finally {
      this.depth--;
    }
  }

  private evaluateRange(start: number, end: number): Value {
    const t = this.tokens;
    this.spend(1);
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
      this.spend(1);
      const next = scanNext(t, i, end, depth);
      if (next !== "count") {
        i = next - 1;
        continue;
      }
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
        const grown = this.append(out, v.value);
        if (grown === undefined) return tooLong(rangeText(t, start, end));
        out = grown;
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
        this.spend(1);
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
        while (open < end && !isPunct(t[open], ">")) {
          this.spend(1);
          open++;
        }
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
        let brace = start + 1;
        while (brace < end && !isPunct(t[brace], "{")) {
          this.spend(1);
          brace++;
        }
        if (brace < end && matching(t, brace) === end - 1) return this.collection(brace + 1, end - 1);
      }
    }
    // { … } (a Java array initializer)
    if (isPunct(first, "{") && matching(t, start) === end - 1) return this.collection(start + 1, end - 1);
    return { kind: "unknown", why: `${rangeText(t, start, end)} is computed at run time` };
  }

  /** `out + more`, paid for by the characters added; undefined when it would pass maxValueLength. */
  private append(out: string, more: string): string | undefined {
    if (out.length + more.length > maxValueLength) return undefined;
    this.spend(more.length);
    return out + more;
  }

  private collection(start: number, end: number): Value {
    const values: string[] = [];
    for (const [a, b] of splitArgs(this.tokens, start, end)) {
      const v = this.evaluate(a, b);
      if (v.kind === "unknown") return v;
      const more = v.kind === "string" ? [v.value] : v.values;
      if (values.length + more.length > maxValueLength)
        return tooMany(rangeText(this.tokens, start - 1, end + 1));
      this.spend(more.length);
      for (const m of more) values.push(m);
    }
    return { kind: "array", values };
  }

  private stringToken(index: number): Value {
    const tok = this.tokens[index] as Extract<Token, { kind: "string" }>;
    let out = "";
    for (const part of tok.parts) {
      if ("text" in part) {
        const grown = this.append(out, part.text);
        if (grown === undefined) return tooLong(rangeText(this.tokens, index, index + 1));
        out = grown;
      } else if ("ref" in part) {
        const names = part.ref.split(".");
        const v = this.lookup(
          names[names.length - 1]!,
          names.length > 1 ? names.slice(0, -1).join(".") : undefined,
        );
        if (v.kind !== "string")
          return v.kind === "unknown" ? v : { kind: "unknown", why: `$${part.ref} is not a string` };
        const grown = this.append(out, v.value);
        if (grown === undefined) return tooLong(rangeText(this.tokens, index, index + 1));
        out = grown;
      } else return { kind: "unknown", why: `\${${part.computed}} is computed at run time` };
    }
    this.consumed.add(index);
    return { kind: "string", value: out };
  }
}

const tooLong = (what: string): Value => ({
  kind: "unknown",
  why: `${what} is longer than ${maxValueLength} characters, which no pin or host is`,
});
const tooMany = (what: string): Value => ({
  kind: "unknown",
  why: `${what} has more than ${maxValueLength} items`,
});
