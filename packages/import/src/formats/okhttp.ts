// OkHttp CertificatePinner in Kotlin or Java source: `CertificatePinner.Builder().add(pattern, pins…)`,
// with constants of the same file resolved. What cannot be read statically is reported with its line.

import { Evaluator, matching, rangeText, scanNext, splitArgs, type Value } from "../code/expressions.js";
import { tokenizeJava } from "../code/java-lexer.js";
import { tokenizeKotlin } from "../code/kotlin-lexer.js";
import { isIdent, isPunct, type Token } from "../code/tokens.js";
import { asPlatformCompares, Findings, readHost, readPin, short, spellingProblem } from "../common.js";
import { ImportError } from "../errors.js";
import type { ImportedDomain, ImportedPin, ImportedSource, Place } from "../types.js";

const platform = "OkHttp";
const identValue = (t: Token | undefined) => (t !== undefined && t.kind === "ident" ? t.value : undefined);

interface Declaration {
  name: string;
  start: number;
  end: number;
  line: number;
}

/** The statement end of an initializer starting at `start` (Kotlin ends statements at line breaks). */
function initializerEnd(tokens: Token[], start: number, kotlin: boolean): number {
  let depth = 0;
  for (let i = start; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = scanNext(tokens, i, tokens.length, depth);
    if (next !== "count") {
      // nothing inside the group is at this depth; its closer is (the line-break rule looks at it)
      if (next < tokens.length && kotlin && depth === 0 && endsAtLineBreak(tokens, next - 1)) return next - 1;
      i = next - 1;
      continue;
    }
    if (t.kind === "punct" && "([{".includes(t.value)) depth++;
    else if (t.kind === "punct" && ")]}".includes(t.value)) {
      if (depth === 0) return i;
      depth--;
    } else if (depth === 0 && (isPunct(t, ";") || isPunct(t, ","))) return i;
    if (kotlin && depth === 0 && i > start && endsAtLineBreak(tokens, i)) return i;
  }
  return tokens.length;
}

/** Whether a Kotlin statement ends before token `i`: a line break that neither side continues. */
function endsAtLineBreak(tokens: Token[], i: number): boolean {
  const t = tokens[i]!;
  const prev = tokens[i - 1]!;
  const continues =
    (prev.kind === "punct" && "+=.(,".includes(prev.value)) || isPunct(t, ".") || isPunct(t, "?");
  return t.line > prev.line && !continues;
}

/** Every `name = initializer` declaration (Kotlin `val`/`var`/`const val`, Java typed fields and locals). */
function declarations(tokens: Token[], kotlin: boolean): { decls: Declaration[]; assigned: Set<string> } {
  const decls: Declaration[] = [];
  const assigned = new Set<string>();
  for (let e = 1; e < tokens.length; e++) {
    if (!isPunct(tokens[e], "=")) continue;
    const prev = tokens[e - 1]!;
    const next = tokens[e + 1];
    if (isPunct(next, "=") || (prev.kind === "punct" && "=!<>+-*/%&|^".includes(prev.value))) continue;
    let name: string | undefined;
    if (kotlin) {
      // val NAME = …   val NAME: Type<…>? = …
      for (let k = e - 1; k >= 0 && k >= e - 12; k--) {
        const v = identValue(tokens[k]);
        if (v === "val" || v === "var") {
          name = identValue(tokens[k + 1]);
          break;
        }
        const t = tokens[k]!;
        if (!(t.kind === "ident" || (t.kind === "punct" && ":<>,?.".includes(t.value)))) break;
      }
    } else if (
      prev.kind === "ident" &&
      (tokens[e - 2]?.kind === "ident" || isPunct(tokens[e - 2], "]") || isPunct(tokens[e - 2], ">"))
    ) {
      name = prev.value;
    } else if (prev.kind === "ident" && isPunct(tokens[e - 2], ",")) {
      // String A = "…", B = "…";
      name = prev.value;
    }
    if (name === undefined) {
      if (prev.kind === "ident") assigned.add(prev.value);
      continue;
    }
    const end = initializerEnd(tokens, e + 1, kotlin);
    decls.push({ name, start: e + 1, end, line: tokens[e]!.line });
  }
  return { decls, assigned };
}

/** Words before a Java name that make it no declared variable (`case A:`, `return a)`). */
const javaNotTypes = new Set([
  "case",
  "assert",
  "return",
  "throw",
  "new",
  "else",
  "yield",
  "instanceof",
  "default",
]);

/**
 * The names the file binds other than by `name = value` (parameters of functions, constructors, lambdas and
 * catch clauses, loop variables, destructured names), each with its first line. keypin does not follow
 * scopes: where such a name is also a constant, a use of it may be the parameter or the constant, so it is
 * resolved as neither. Read generously (a `when` branch `A ->` counts as a lambda parameter): a name listed
 * here that binds nothing costs a reported constant, never a wrong pin.
 */
function boundNames(tokens: Token[], kotlin: boolean): Map<string, number> {
  const bound = new Map<string, number>();
  const bind = (t: Token | undefined) => {
    if (t !== undefined && t.kind === "ident" && !bound.has(t.value)) bound.set(t.value, t.line);
  };
  // One pass: the innermost bracket around each token, and the parentheses that pair.
  const enclosing = new Int32Array(tokens.length).fill(-1);
  const openOf = new Int32Array(tokens.length).fill(-1);
  const closeOf = new Int32Array(tokens.length).fill(-2);
  const stack: number[] = [];
  tokens.forEach((t, i) => {
    if (isPunct(t, ")") || isPunct(t, "]") || isPunct(t, "}")) {
      const open = stack.pop();
      if (open !== undefined && isPunct(t, ")") && isPunct(tokens[open], "(")) {
        openOf[i] = open;
        closeOf[open] = i;
      }
    }
    enclosing[i] = stack[stack.length - 1] ?? -1;
    if (isPunct(t, "(") || isPunct(t, "[") || isPunct(t, "{")) stack.push(i);
  });
  const simple = (p: Token) => p.kind === "ident" || (p.kind === "punct" && ",:.<>?".includes(p.value));
  const isParen = (i: number) => i !== -1 && isPunct(tokens[i], "(");
  // Kotlin: the "(" of `for (…)` and `val (…)`, and where each for's top-level `in` is.
  const after = (i: number, word: string) => i > 0 && isIdent(tokens[i - 1], word);
  const forIn = new Map<number, number>();
  if (kotlin)
    tokens.forEach((t, k) => {
      const e = enclosing[k]!;
      if (isIdent(t, "in") && isParen(e) && after(e, "for") && !forIn.has(e)) forIn.set(e, k);
    });
  const beforeIn = (e: number, i: number) =>
    isParen(e) && after(e, "for") && i < (forIn.get(e) ?? Number.POSITIVE_INFINITY);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    const prev = tokens[i - 1];
    const e = enclosing[i]!;
    if (kotlin) {
      if (t.kind === "ident") {
        // fun f(PIN: String), class C(val PIN: String = …), catch (e: E), (a: Int) -> …
        if (isPunct(next, ":") && !isPunct(tokens[i + 2], ":") && isParen(e)) bind(t);
        // val (a, PIN) = …   for (PIN in …)   for ((a, PIN) in …)
        if (isParen(e) && (after(e, "val") || after(e, "var"))) bind(t);
        if (beforeIn(e, i) || (isParen(e) && beforeIn(enclosing[e]!, e))) bind(t);
      }
      // { PIN -> … }   { a, PIN -> … }   { (a, PIN) -> … }   { PIN: String -> … }
      if (isPunct(t, "-") && isPunct(next, ">")) {
        // Walked back once: the walk stops at the "-" of an earlier arrow, a group is jumped over and
        // its names read only when it holds names alone (destructuring), so the work stays linear.
        const names: Token[] = [];
        let k = i - 1;
        for (;;) {
          const p = tokens[k];
          if (p === undefined) break;
          if (isPunct(p, ")")) {
            const open = openOf[k]!;
            if (open === -1) break;
            for (let j = open + 1; j < k && simple(tokens[j]!); j++) names.push(tokens[j]!);
            k = open - 1;
          } else if (simple(p)) {
            names.push(p);
            k--;
          } else break;
        }
        if (isPunct(tokens[k], "{")) for (const n of names) bind(n);
      }
    } else {
      // (String PIN) (final String[] PIN, …) (String... PIN) catch (E e) for (String PIN : …) instanceof T t)
      if (
        t.kind === "ident" &&
        (isPunct(next, ",") || isPunct(next, ")") || isPunct(next, ":")) &&
        prev !== undefined &&
        ((prev.kind === "ident" && !javaNotTypes.has(prev.value)) ||
          isPunct(prev, "]") ||
          isPunct(prev, ">") ||
          isPunct(prev, "..."))
      )
        bind(t);
      // PIN -> …   (a, PIN) -> …   (String a, String PIN) -> …
      if (isPunct(t, "->") && prev?.kind === "ident") bind(prev);
      if (t.kind === "ident" && isParen(e) && isPunct(tokens[closeOf[e]! + 1], "->")) bind(t);
    }
  }
  return bound;
}

/** The names of the classes and objects declared in the file (qualifiers keypin may resolve). */
function declaredTypes(tokens: Token[]): Set<string> {
  const out = new Set(["Companion", "this"]);
  tokens.forEach((t, i) => {
    const v = identValue(t);
    if ((v === "class" || v === "object" || v === "interface") && isIdent(tokens[i + 1]))
      out.add(identValue(tokens[i + 1])!);
  });
  return out;
}

/** One `add(pattern, pins…)` call as read. */
interface AddCall {
  pattern: string;
  pins: ImportedPin[];
  line: number;
  /** Why the call may not run (inside an if, a loop, a lambda; on a builder never built), if it may not. */
  uncertain?: string;
}

/** Words whose block or statement runs only sometimes (or again and again). */
const conditionalWords: Record<string, string> = {
  if: "an if",
  else: "an else",
  when: "a when",
  switch: "a switch",
  case: "a switch case",
  while: "a while loop",
  for: "a for loop",
  do: "a do loop",
  try: "a try block",
  catch: "a catch block",
};
/** Kotlin functions that run their lambda once, where they are called: their block is ordinary code. */
const onceLambdas = new Set(["run", "with", "apply", "also", "let", "lazy", "synchronized", "use"]);
/** Kotlin words that begin a declaration, whose body `{` is no lambda. */
const declarationWords = new Set([
  "fun",
  "class",
  "object",
  "interface",
  "init",
  "constructor",
  "get",
  "set",
  "companion",
  "enum",
]);

/**
 * Why the code at token `p` may not run when the file's declarations do, or undefined when it is ordinary code
 * (a statement of a function, class or file body; an argument; a Kotlin run/apply/let/lazy block): inside an
 * if, else, when or switch, a loop, a try or catch block, after `?:`, `&&`, `||` or a ternary, in a lambda
 * (Java `->`, Kotlin `{ … }` of a function other than the once-only ones). The walk goes back from `p` over
 * its statement and out through the brackets around it, stopping (as ordinary) at `stopAt`.
 */
function conditionalContext(
  tokens: Token[],
  kotlin: boolean,
  enclosing: Int32Array,
  pairs: Int32Array,
  p: number,
  stopAt: number,
  memo: Map<number, string | null>,
  budget: { steps: number },
): string | undefined {
  const where = (i: number, what: string) => `${what} (line ${tokens[i]!.line})`;
  const headerWord = (close: number): string | undefined => {
    const open = pairs[close]!;
    return open < 0 ? undefined : identValue(tokens[open - 1]);
  };
  /** A `{` at `o`: a reason when its block is conditional or a lambda that may not run. */
  const block = (o: number): string | undefined => {
    const prev = tokens[o - 1];
    if (prev === undefined) return undefined;
    if (kotlin && isPunct(prev, ">") && isPunct(tokens[o - 2], "-"))
      return where(o, "a when branch or lambda");
    if (!kotlin && isPunct(prev, "->")) return where(o, "a lambda or switch rule");
    const word = identValue(prev);
    if (word !== undefined && word in conditionalWords) return where(o, conditionalWords[word]!);
    if (isPunct(prev, ")")) {
      const head = headerWord(o - 1);
      if (head !== undefined && head in conditionalWords) return where(o, conditionalWords[head]!);
    }
    if (!kotlin) return undefined; // Java: a method, class, initializer or array body
    // Kotlin: a declaration's body, or a lambda: `name {` or `name(…) {`.
    let k = o - 1;
    if (isPunct(tokens[k], ")") && pairs[k]! >= 0) k = pairs[k]! - 1;
    const name = identValue(tokens[k]);
    for (let j = o - 1, n = 0; j >= 0 && n < 64; j--, n++) {
      const t = tokens[j]!;
      if (isPunct(t, ")") || isPunct(t, "]")) {
        if (pairs[j]! < 0) break;
        j = pairs[j]!;
        continue;
      }
      if (t.kind === "punct" && "{}();=[".includes(t.value)) break;
      if (j < o - 1 && endsAtLineBreak(tokens, j + 1)) break;
      if (t.kind === "ident" && declarationWords.has(t.value)) return undefined;
    }
    if (name === undefined) return where(o, "a lambda");
    const safeCall = isPunct(tokens[k - 1], ".") && isPunct(tokens[k - 2], "?");
    if (onceLambdas.has(name) && !safeCall) return undefined;
    return where(o, safeCall ? `a ?.${name} { … } block` : `a lambda (${name} { … })`);
  };
  const visited: number[] = [];
  const done = (reason: string | undefined): string | undefined => {
    if (stopAt < 0) for (const o of visited) memo.set(o, reason ?? null);
    return reason;
  };
  let i = p - 1;
  for (;;) {
    if (i < 0 || i === stopAt) return done(undefined);
    if (--budget.steps < 0) return done("code too long for keypin to tell whether it runs");
    const t = tokens[i]!;
    if (t.kind === "punct" && "([{".includes(t.value)) {
      // The bracket around what was walked: the walk goes on outside it.
      if (stopAt < 0) {
        const known = memo.get(i);
        if (known !== undefined) return done(known ?? undefined);
      }
      visited.push(i);
      if (t.value === "{") {
        const reason = block(i);
        if (reason !== undefined) return done(reason);
      }
      i--;
      continue;
    }
    if (isPunct(t, ")")) {
      const head = headerWord(i);
      if (head !== undefined && head in conditionalWords) return done(where(i, conditionalWords[head]!));
    }
    const word = identValue(t);
    if (word !== undefined && word in conditionalWords) return done(where(i, conditionalWords[word]!));
    if (kotlin) {
      if (isPunct(t, ">") && isPunct(tokens[i - 1], "-")) return done(where(i, "a when branch or lambda"));
      if (isPunct(t, ":") && isPunct(tokens[i - 1], "?")) return done(where(i, "the right of ?:"));
      if (
        (isPunct(t, "&") && isPunct(tokens[i - 1], "&")) ||
        (isPunct(t, "|") && isPunct(tokens[i - 1], "|"))
      )
        return done(where(i, `the right of ${isPunct(t, "&") ? "&&" : "||"}`));
      // A line break that ends the statement before: the walk goes on around this one.
      if (endsAtLineBreak(tokens, i + 1)) {
        i = enclosing[i + 1]!;
        continue;
      }
    } else if (t.kind === "punct" && ["->", "?", ":", "&&", "||"].includes(t.value))
      return done(where(i, t.value === "->" ? "a lambda or switch rule" : `the right of ${t.value}`));
    if (isPunct(t, ")") || isPunct(t, "]") || isPunct(t, "}")) {
      if (isPunct(t, "}") || pairs[i]! < 0) {
        i = enclosing[i]!; // the statement before ends here
        continue;
      }
      i = pairs[i]! - 1;
      continue;
    }
    // What comes before a ";" or an argument's "," does not decide whether this runs.
    if (isPunct(t, ";") || isPunct(t, ",")) {
      i = enclosing[i]!;
      continue;
    }
    i--;
  }
}

/**
 * Reads OkHttp CertificatePinner calls from Kotlin (`okhttp-kotlin`) or Java (`okhttp-java`) source.
 * Java is parsed with java-parser; Kotlin is tokenized (there is no maintained Kotlin parser in JavaScript).
 */
export function importOkHttp(text: string, file: string, language: "kotlin" | "java"): ImportedSource {
  const kotlin = language === "kotlin";
  const tokens = kotlin ? tokenizeKotlin(text, file) : tokenizeJava(text, file);
  const findings = new Findings();
  const at = (line: number): Place => ({ file, line });
  const { decls, assigned } = declarations(tokens, kotlin);
  const types = declaredTypes(tokens);
  const bound = boundNames(tokens, kotlin);
  const byName = new Map<string, Declaration[]>();
  for (const d of decls) {
    const same = byName.get(d.name);
    if (same === undefined) byName.set(d.name, [d]);
    else same.push(d);
  }
  const declAt = new Map(decls.map((d) => [d.start, d]));
  const consumed = new Set<number>();
  const resolving = new Set<string>();
  // Each constant is evaluated once (A1 = A0 + A0, A2 = A1 + A1, … would otherwise double the work per
  // line); a value that met a cycle or the nesting limit is not kept, so that each name reports its own.
  const known = new Map<string, Value>();
  let cycles = 0;
  const lookup = (name: string, qualifier: string | undefined): Value => {
    if (qualifier !== undefined && !qualifier.split(".").every((q) => types.has(q))) {
      return { kind: "unknown", why: `${qualifier}.${name} is defined outside this file` };
    }
    const found = byName.get(name) ?? [];
    if (found.length === 0) return { kind: "unknown", why: `${name} is not a constant of this file` };
    const hidden = qualifier === undefined ? bound.get(name) : undefined;
    if (hidden !== undefined)
      return {
        kind: "unknown",
        why: `${name} is also a parameter or local name (line ${hidden}), which may hide the constant; keypin does not follow scopes (rename one of them)`,
      };
    if (assigned.has(name))
      return { kind: "unknown", why: `${name} is assigned again, so its value depends on run time` };
    if (resolving.has(name)) {
      cycles++;
      return { kind: "unknown", why: `${name} refers to itself` };
    }
    const cached = known.get(name);
    if (cached !== undefined) return cached;
    resolving.add(name);
    const before = cycles + evaluator.stoppedDeep;
    const remember = (v: Value): Value => {
      if (cycles + evaluator.stoppedDeep === before) known.set(name, v);
      return v;
    };
    try {
      const values = found.map((d) => evaluator.evaluate(d.start, d.end));
      const first = values[0]!;
      if (first.kind === "unknown") return remember(first);
      const same = values.every((v) => JSON.stringify(v) === JSON.stringify(first));
      if (!same)
        return remember({
          kind: "unknown",
          why: `${name} is declared ${found.length} times with different values (lines ${found.map((d) => d.line).join(", ")})`,
        });
      return remember(first);
    } finally {
      resolving.delete(name);
    }
  };
  // Work proportional to the file: every token looked at a few times, every character built a few times.
  const budget = {
    steps: 1_000_000 + 16 * text.length,
    exhausted: () =>
      new ImportError(
        { file },
        `its constants and expressions take more than ${1_000_000 + 16 * text.length} steps to evaluate (a file of ${text.length} characters needs far fewer); keypin does not import it`,
      ),
  };
  const evaluator = new Evaluator(tokens, lookup, consumed, budget);

  // The innermost bracket around each token, and each bracket's partner (both ways), for conditionalContext.
  const enclosing = new Int32Array(tokens.length).fill(-1);
  const pairs = new Int32Array(tokens.length).fill(-1);
  {
    const stack: number[] = [];
    tokens.forEach((t, i) => {
      if (t.kind === "punct" && ")]}".includes(t.value) && stack.length > 0) {
        const open = stack.pop()!;
        pairs[open] = i;
        pairs[i] = open;
      }
      enclosing[i] = stack[stack.length - 1] ?? -1;
      if (t.kind === "punct" && "([{".includes(t.value)) stack.push(i);
    });
  }
  const contextMemo = new Map<number, string | null>();
  // Work proportional to the file for all the walks together (each is linear; the memo shares their outer parts).
  const contextBudget = { steps: 1_000_000 + 16 * tokens.length };
  const contextOf = (p: number, stopAt = -1) =>
    conditionalContext(tokens, kotlin, enclosing, pairs, p, stopAt, contextMemo, contextBudget);
  /** Whether the chain stopping at `j` goes on with `.build()`. */
  const builds = (j: number) =>
    (isPunct(tokens[j], ".") && isIdent(tokens[j + 1], "build") && isPunct(tokens[j + 2], "(")) ||
    (isPunct(tokens[j], "?") &&
      isPunct(tokens[j + 1], ".") &&
      isIdent(tokens[j + 2], "build") &&
      isPunct(tokens[j + 3], "("));

  const calls: AddCall[] = [];
  const readAdd = (open: number, uncertain?: string): number => {
    const close = matching(tokens, open);
    const line = tokens[open]!.line;
    if (close === -1) {
      findings.add("unreadable", at(line), "an add( call whose parentheses do not close; not imported");
      return tokens.length;
    }
    const args = splitArgs(tokens, open + 1, close);
    const [patternRange, ...pinRanges] = args;
    if (patternRange === undefined) {
      findings.add("unreadable", at(line), "add() without arguments; not imported");
      return close + 1;
    }
    const pattern = evaluator.evaluate(...patternRange);
    if (pattern.kind !== "string") {
      const why = pattern.kind === "unknown" ? pattern.why : "it is not a string";
      findings.add(
        "unreadable",
        at(line),
        `the pattern of add(${rangeText(tokens, ...patternRange)}, …) cannot be read statically (${why}); this call is not imported`,
      );
      for (const r of pinRanges) evaluator.evaluate(...r); // its pins are accounted for, not reported twice
      return close + 1;
    }
    const pins: ImportedPin[] = [];
    for (const r of pinRanges) {
      const v = evaluator.evaluate(...r);
      const pinLine = tokens[r[0]]!.line;
      if (v.kind === "unknown") {
        findings.add(
          "unreadable",
          at(pinLine),
          `a pin for ${short(pattern.value)} cannot be read statically (${v.why}); not imported, so keypin's entry lacks it`,
        );
        continue;
      }
      for (const s of v.kind === "string" ? [v.value] : v.values) {
        const read = readPin(s);
        if ("problem" in read) {
          findings.add("dropped", at(pinLine), `${read.problem}; not imported for ${short(pattern.value)}`);
        } else if (!pins.some((p) => p.pin === read.pin)) pins.push({ pin: read.pin, place: at(pinLine) });
      }
    }
    calls.push({ pattern: pattern.value, pins, line, ...(uncertain === undefined ? {} : { uncertain }) });
    return close + 1;
  };

  /** Follows `.add(…)` / `.apply { add(…) }` from `j` (a "." after a builder); returns where it stopped. */
  const readChain = (j: number): number => {
    for (;;) {
      if (isPunct(tokens[j], "?")) j++;
      if (!isPunct(tokens[j], ".")) return j;
      const member = identValue(tokens[j + 1]);
      if (member === "add" && isPunct(tokens[j + 2], "(")) {
        j = readAdd(j + 2);
      } else if (
        (member === "apply" || member === "also" || member === "run") &&
        isPunct(tokens[j + 2], "{")
      ) {
        const close = matching(tokens, j + 2);
        const end = close === -1 ? tokens.length : close;
        for (let k = j + 3; k < end; k++) {
          if (!isIdent(tokens[k], "add") || !isPunct(tokens[k + 1], "(")) continue;
          const receiver = tokens[k - 1];
          const bare = !isPunct(receiver, ".");
          const self =
            isPunct(receiver, ".") && (isIdent(tokens[k - 2], "it") || isIdent(tokens[k - 2], "this"));
          // Inside the builder's own block, an add that sits in an if, a loop or a lambda may not run.
          if (bare || self) k = readAdd(k + 1, contextOf(self ? k - 2 : k, j + 2)) - 1;
        }
        j = end + 1;
      } else return j;
    }
  };

  const builderVars = new Set<string>();
  const builtVars = new Set<string>();
  const chains: { calls: AddCall[]; start: number; built: boolean; target: string | undefined }[] = [];
  for (let s = 0; s + 4 < tokens.length; s++) {
    if (
      !(
        isIdent(tokens[s], "CertificatePinner") &&
        isPunct(tokens[s + 1], ".") &&
        isIdent(tokens[s + 2], "Builder") &&
        isPunct(tokens[s + 3], "(") &&
        isPunct(tokens[s + 4], ")")
      )
    )
      continue;
    // Who gets the builder: `val b = CertificatePinner.Builder()`, `Builder b = new okhttp3.CertificatePinner.Builder()`
    let k = s - 1;
    while (isPunct(tokens[k], ".") && isIdent(tokens[k - 1])) k -= 2;
    if (isIdent(tokens[k], "new")) k--;
    const first = calls.length;
    const end = readChain(s + 5);
    let target: string | undefined;
    if (isPunct(tokens[k], "=")) {
      const decl = declAt.get(k + 1);
      target = decl?.name ?? identValue(tokens[k - 1]);
      if (target !== undefined) builderVars.add(target);
    }
    chains.push({ calls: calls.slice(first), start: k + 1, built: builds(end), target });
  }
  for (let i = 0; i + 1 < tokens.length; i++) {
    const v = identValue(tokens[i]);
    if (
      v !== undefined &&
      builderVars.has(v) &&
      (isPunct(tokens[i + 1], ".") || isPunct(tokens[i + 1], "?"))
    ) {
      if (isPunct(tokens[i - 1], ".")) continue;
      const first = calls.length;
      const end = readChain(i + 1);
      chains.push({ calls: calls.slice(first), start: i, built: builds(end), target: v });
      if (builds(end)) builtVars.add(v);
      i = end - 1;
    }
  }
  // An add that may not run, or whose builder this file never builds, is not imported as a certain pin.
  for (const chain of chains) {
    if (chain.calls.length === 0) continue;
    const reason =
      contextOf(chain.start) ??
      (chain.built || (chain.target !== undefined && builtVars.has(chain.target))
        ? undefined
        : "on a CertificatePinner.Builder this file never builds (no .build())");
    for (const call of chain.calls) {
      if (call.uncertain === undefined && reason !== undefined)
        call.uncertain = /^(on|code) /.test(reason) ? reason : `inside ${reason}`;
      else if (call.uncertain !== undefined && !/^(inside|code) /.test(call.uncertain))
        call.uncertain = `inside ${call.uncertain}`;
    }
  }
  for (const call of calls) {
    if (call.uncertain === undefined) continue;
    findings.add(
      "unreadable",
      at(call.line),
      `add(${short(call.pattern)}, …) is ${call.uncertain}, so it may not run: keypin does not import its pins as certain; not imported`,
    );
  }

  // Pins that no readable call used: never silently skipped.
  tokens.forEach((t, i) => {
    if (t.kind !== "string" || consumed.has(i)) return;
    const text = t.parts.map((p) => ("text" in p ? p.text : "")).join("");
    if (!/^(sha256|sha1)\/[A-Za-z0-9+/]*=*$/.test(text)) return;
    findings.add(
      "unreadable",
      at(t.line),
      `the pin ${short(text)} is not in a CertificatePinner.Builder().add(…) call keypin can follow (a loop, a helper, another file); not imported`,
    );
  });
  if (calls.length === 0 && !findings.list.some((f) => f.kind === "unreadable")) {
    findings.add(
      "dropped",
      { file },
      "no CertificatePinner.Builder().add(…) call found: this file pins nothing keypin can read",
    );
  }

  const domains = mapPatterns(
    calls.filter((c) => c.uncertain === undefined),
    file,
    findings,
  );
  return {
    file,
    format: kotlin ? "okhttp-kotlin" : "okhttp-java",
    platform,
    domains,
    findings: findings.list,
    expresses: { expires: false, reportUris: false, reportOnly: false },
  };
}

/**
 * Turns OkHttp patterns into keypin domains. `host` is the host alone; `**.host` the host and its subdomains
 * at any depth (keypin's includeSubdomains exactly); `*.host` one label below only, not the host (keypin
 * cannot say that: imported as includeSubdomains, reported). OkHttp unions the pins of every matching pattern.
 */
function mapPatterns(calls: AddCall[], file: string, findings: Findings): ImportedDomain[] {
  interface Group {
    exact?: ImportedPin[];
    any?: ImportedPin[];
    one?: ImportedPin[];
    line: number;
    anyLine?: number;
    oneLine?: number;
  }
  const groups = new Map<string, Group>();
  const union = (a: ImportedPin[] | undefined, b: ImportedPin[]) => {
    const out = [...(a ?? [])];
    for (const p of b) if (!out.some((q) => q.pin === p.pin)) out.push(p);
    return out;
  };
  for (const call of calls) {
    const m = /^(\*\*\.|\*\.)?(.*)$/s.exec(call.pattern)!;
    const host = readHost(m[2]!);
    if (host === undefined || m[2]!.includes("*")) {
      findings.add(
        "unreadable",
        { file, line: call.line },
        `${short(call.pattern)} is not an OkHttp pattern keypin can read (host, *.host or **.host); not imported`,
      );
      continue;
    }
    if (call.pins.length === 0) continue;
    const spelling = spellingProblem(m[2]!, host, "okhttp");
    if (spelling !== undefined) {
      findings.add(
        "not-applied",
        { file, line: call.line },
        `the pattern ${short(call.pattern)} has ${spelling}: OkHttp compares its canonical host (IDNA, lowercase, nothing else: ${short(asPlatformCompares(m[2]!, "okhttp"))}) with the host the app connects to (${short(host)}), so it never applies these pins to ${host}, which is not pinned by OkHttp; not imported (write ${short(`${m[1] ?? ""}${host}`)} to pin it)`,
        host,
      );
      continue;
    }
    const g = groups.get(host) ?? { line: call.line };
    if (m[1] === "**.") {
      g.any = union(g.any, call.pins);
      g.anyLine ??= call.line;
    } else if (m[1] === "*.") {
      g.one = union(g.one, call.pins);
      g.oneLine ??= call.line;
    } else g.exact = union(g.exact, call.pins);
    groups.set(host, g);
  }
  const domains: ImportedDomain[] = [];
  const same = (a: ImportedPin[], b: ImportedPin[]) =>
    a.length === b.length && a.every((p) => b.some((q) => q.pin === p.pin));
  for (const [host, g] of groups) {
    const place = { file, line: g.line };
    const sub = g.any !== undefined || g.one !== undefined;
    const pins = union(union(g.exact, g.any ?? []), g.one ?? []);
    if (g.one !== undefined) {
      findings.add(
        "changed",
        place,
        g.exact === undefined && g.any === undefined
          ? `*.${host} pins hosts one label below ${host} only; keypin cannot say that: imported as ${host} with includeSubdomains, which also pins ${host} itself and deeper subdomains`
          : `*.${host} pins hosts one label below ${host}; imported into ${host}'s includeSubdomains entry, which also pins deeper subdomains`,
        host,
        "includeSubdomains",
      );
    }
    const subPins = union(g.any, g.one ?? []);
    if (g.exact !== undefined && sub && !same(g.exact, subPins)) {
      findings.add(
        "changed",
        place,
        `${host} and its subdomains have different pins in OkHttp (${host} accepts ${pins.length}, its subdomains only ${subPins.length}); keypin has one set for both: imported as their union`,
        host,
        "pins",
      );
    }
    domains.push({ domain: host, includeSubdomains: sub, pins, mode: "enforce", reportUris: [], place });
  }
  // OkHttp checks every pattern that matches a host and accepts any pin of any of them; keypin uses the nearest
  // entry only. So each entry also gets the pins of the patterns above it that match its host: `**.k` for any
  // k it is under, `*.k` when it is one label below k. What the app accepts today is still accepted (never
  // narrower: an entry without them would refuse a key OkHttp takes, a lock-out after export).
  // The groups above a host are found by its parent names (a.b.c: b.c, c), not by a scan of every group:
  // 20,000 hosts took 27 s that way. They are taken in the file's order, as the scan took them.
  const order = new Map([...groups.keys()].map((k, i) => [k, i]));
  for (const d of domains) {
    const from: string[] = [];
    let added = 0;
    let wider = false;
    const labels = d.domain.split(".");
    const above = labels
      .slice(1)
      .map((_, i) => labels.slice(i + 1).join("."))
      .filter((k) => groups.has(k))
      .sort((a, b) => order.get(a)! - order.get(b)!);
    for (const k of above) {
      const g = groups.get(k)!;
      const oneBelow = !d.domain.slice(0, -(k.length + 1)).includes(".");
      const parts: [string, ImportedPin[], number][] = [];
      if (g.any !== undefined) parts.push([`**.${k}`, g.any, g.anyLine ?? g.line]);
      if (g.one !== undefined && oneBelow) {
        parts.push([`*.${k}`, g.one, g.oneLine ?? g.line]);
        if (d.includeSubdomains) wider = true;
      }
      for (const [pattern, pins, line] of parts) {
        const extra = pins.filter((p) => !d.pins.some((q) => q.pin === p.pin));
        if (extra.length === 0) continue;
        d.pins.push(...extra);
        added += extra.length;
        from.push(`${pattern} (line ${line})`);
      }
    }
    if (added === 0) continue;
    findings.add(
      "changed",
      d.place,
      `OkHttp checks every pattern that matches a host, so for ${d.domain} it also accepts the pins of ${from.join(", ")}; keypin uses the nearest entry only: their ${added} other pin${added === 1 ? "" : "s"} added to ${d.domain}'s entry, so every key the app accepts today is still accepted${wider ? ` (its subdomains, which a *. pattern does not match, accept them too: wider)` : ""}`,
      d.domain,
      "pins",
    );
  }
  return domains;
}
