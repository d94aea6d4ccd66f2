// Reading untrusted plain data for validation: every field read exactly once, problems named by JSON Pointer,
// values described without echoing them in full, near misses suggested.
import type { PolicyProblem } from "../types.js";

/** A JSON Pointer (RFC 6901) from path segments. */
export function jsonPointer(...segments: (string | number)[]): string {
  return segments.map((s) => `/${String(s).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

/** An object that is not an array (a JSON object, or one built in code). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** What a value is, for a message: its type, or a string's first 37 characters. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string")
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === "object") return "an object";
  if (typeof v === "function") return "a function";
  return `${typeof v} ${String(v)}`;
}

/** The allowed name a misspelling most likely meant, when one is close enough. */
export function closest(name: string, options: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const o of options) {
    const d = editDistance(lower, o.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = o;
    }
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** One problem per field that is not in `allowed`, with a suggestion when a name is close. */
export function unknownFields(
  value: Record<string, unknown>,
  allowed: readonly string[],
  path: (string | number)[],
  problems: PolicyProblem[],
): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const hint = closest(key, allowed);
    problems.push({
      path: jsonPointer(...path, key),
      message: `unknown field "${key}"${hint ? `: did you mean "${hint}"?` : ""} Allowed: ${allowed.join(", ")}. Unknown fields are errors so that a typo never weakens pinning.`,
    });
  }
}

/** A policy's own fields, each read exactly once: later reads of a getter or a proxy cannot change what was checked. */
export type Fields = Record<string, unknown>;

export function fieldsOf(value: object): Fields {
  const fields: Fields = Object.create(null);
  for (const key of Object.keys(value)) fields[key] = (value as Fields)[key];
  return fields;
}

/** The items of an array, each read once, or undefined (with a problem) when it has holes or extra properties. */
export function itemsOf(
  value: unknown[],
  path: (string | number)[],
  problems: PolicyProblem[],
): unknown[] | undefined {
  const length = value.length;
  // An array's own keys are its present indices in ascending order, then any other property names.
  const keys = Object.keys(value);
  let problem: string | undefined;
  for (let i = 0; i < keys.length && problem === undefined; i++) {
    const key = keys[i]!;
    if (key === String(i)) continue;
    problem = /^(?:0|[1-9][0-9]*)$/.test(key)
      ? `the list has an empty slot at index ${i} (a sparse array): every item must be present`
      : `the list has a property "${key.length > 40 ? `${key.slice(0, 37)}...` : key}" that is not an item: give a plain array`;
  }
  if (problem === undefined && keys.length < length) {
    problem = `the list has an empty slot at index ${keys.length} (a sparse array): every item must be present`;
  }
  if (problem !== undefined) {
    problems.push({ path: jsonPointer(...path), message: problem });
    return undefined;
  }
  const items: unknown[] = [];
  for (let i = 0; i < length; i++) items.push(value[i]);
  return items;
}
