// Tokens of Kotlin and Java source, as the OkHttp reader needs them.

/** A piece of a string literal: text, or a `$name`/`${name}` template reference, or a template keypin cannot read. */
export type StringPart = { text: string } | { ref: string } | { computed: string };

/** One token. Strings carry their parts (Kotlin templates); comments and whitespace are gone. */
export type Token =
  | { kind: "string"; parts: StringPart[]; line: number }
  | { kind: "ident"; value: string; line: number }
  | { kind: "punct"; value: string; line: number }
  | { kind: "other"; value: string; line: number };

/** A token's text for messages. */
export function tokenText(t: Token): string {
  if (t.kind !== "string") return t.value;
  return JSON.stringify(
    t.parts.map((p) => ("text" in p ? p.text : "ref" in p ? `$${p.ref}` : `\${${p.computed}}`)).join(""),
  );
}

/** Whether `t` is the punctuation `v`. */
export const isPunct = (t: Token | undefined, v: string): boolean =>
  t !== undefined && t.kind === "punct" && t.value === v;

/** Whether `t` is an identifier (the identifier `v`, when given). */
export const isIdent = (t: Token | undefined, v?: string): boolean =>
  t !== undefined && t.kind === "ident" && (v === undefined || t.value === v);
