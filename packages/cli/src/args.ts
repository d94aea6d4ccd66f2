import type { ArgsDef, ParsedArgs } from "./command.js";
import { UsageError } from "./errors.js";

export type { ParsedArgs } from "./command.js";

/**
 * Parses `argv` against a command's `args`, strictly: an unknown option, a string option without a
 * value, a value given to a boolean, a value outside an option's `choices`, or an option that is not
 * `repeatable` given twice is a `UsageError`. A repeatable option's value is the list of its values
 * (`--ca a.pem --ca b.pem`). Named positionals are filled in order; every positional is also in `_`.
 * `--` ends the options; `-` is a positional.
 *
 * @example
 * parseArgs(["--ca", "a.pem", "host"], { ca: { type: "string", repeatable: true }, host: { type: "positional" } }, "keypin inspect");
 * // { _: ["host"], ca: ["a.pem"], host: "host" }
 */
export function parseArgs<const T extends ArgsDef>(
  argv: readonly string[],
  defs: T,
  commandName: string,
): ParsedArgs<T> {
  const byName = new Map<string, { name: string; type: "string" | "boolean" }>();
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    const type = def.type === "string" ? "string" : "boolean";
    byName.set(name, { name, type });
    const aliases = "alias" in def && def.alias !== undefined ? [def.alias].flat() : [];
    for (const alias of aliases) byName.set(alias, { name, type });
  }
  const out: ParsedArgs = { _: [] };
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "string" && def.repeatable) out[name] = [];
  }
  const unknown = (flag: string) =>
    new UsageError(`unknown option ${flag} for \`${commandName}\` (see \`${helpHint(commandName)}\`)`);
  const set = (name: string, value: string | boolean) => {
    const old = out[name];
    if (Array.isArray(old)) out[name] = [...old, value as string];
    else if (typeof value === "string" && typeof old === "string") {
      throw new UsageError(`option --${name} of \`${commandName}\` is given more than once`);
    } else out[name] = value;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out._.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      out._.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf("=");
    let key = eq === -1 ? body : body.slice(0, eq);
    let inline: string | undefined = eq === -1 ? undefined : body.slice(eq + 1);
    if (!long && key.length > 1 && inline === undefined) {
      // -abc: only single-letter short options exist; treat the rest as its value ("-t5000")
      inline = key.slice(1);
      key = key.slice(0, 1);
    }
    let def = byName.get(key);
    let negated = false;
    if (!def && long && key.startsWith("no-")) {
      const positive = byName.get(key.slice(3));
      if (positive?.type === "boolean") {
        def = positive;
        negated = true;
      }
    }
    if (!def) throw unknown(long ? `--${key}` : `-${key}`);
    const flag = long ? `--${key}` : `-${key}`;
    if (def.type === "boolean") {
      if (inline !== undefined) {
        if (negated || (inline !== "true" && inline !== "false")) {
          throw new UsageError(`option ${flag} of \`${commandName}\` takes no value (got "${inline}")`);
        }
        set(def.name, inline === "true");
      } else {
        set(def.name, !negated);
      }
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-")) {
        throw new UsageError(`option ${flag} of \`${commandName}\` needs a value`);
      }
      value = next;
      i++;
    }
    set(def.name, value);
  }

  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    if (out[name] === undefined && def.default !== undefined) out[name] = def.default;
    if (def.type !== "string") continue;
    const value = out[name];
    if (def.required && value === undefined) {
      throw new UsageError(`\`${commandName}\` needs --${name}`);
    }
    if (def.choices && typeof value === "string" && !def.choices.includes(value)) {
      throw new UsageError(
        `unknown ${name} "${value}" for \`${commandName}\`; ${name}s: ${def.choices.join(", ")}`,
      );
    }
  }
  const positionals = [...out._];
  for (const [name, def] of Object.entries(defs)) {
    if (def.type !== "positional") continue;
    const value = positionals.shift();
    if (value !== undefined) out[name] = value;
    else if (def.default !== undefined) out[name] = def.default;
    else if (def.required !== false) {
      throw new UsageError(`\`${commandName}\` needs <${name}> (see \`${helpHint(commandName)}\`)`);
    }
  }
  return out as ParsedArgs<T>;
}

/**
 * The command that shows help for `commandName` ("keypin hash" → "keypin help hash").
 *
 * @example
 * helpHint("keypin inspect"); // "keypin help inspect"
 */
export function helpHint(commandName: string): string {
  const rest = commandName.split(" ").slice(1).join(" ");
  return rest ? `keypin help ${rest}` : "keypin --help";
}

/**
 * The values of a string option as an array (none, one, or several), for code that holds the untyped
 * `ParsedArgs`.
 *
 * @example
 * stringList(["a", "b"]); // ["a", "b"]
 * stringList(undefined); // []
 */
export function stringList(value: ParsedArgs[string]): string[] {
  if (value === undefined || typeof value === "boolean") return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * The value of a string option that may be given at most once, for code that holds the untyped
 * `ParsedArgs` (the parser already refuses a second value of an option that is not `repeatable`).
 *
 * @example
 * singleString(args.out, "--out", "keypin backup"); // "keys" or undefined
 */
export function singleString(
  value: ParsedArgs[string],
  flag: string,
  commandName: string,
): string | undefined {
  if (value === undefined || typeof value === "boolean") return undefined;
  if (Array.isArray(value))
    throw new UsageError(`option ${flag} of \`${commandName}\` is given more than once`);
  return value;
}

/**
 * Parses a positive integer option (`--timeout 5000`, `--concurrency 8`).
 *
 * @example
 * positiveInteger("5000", "--timeout", "keypin inspect"); // 5000
 */
export function positiveInteger(text: string, flag: string, commandName: string): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(
      `option ${flag} of \`${commandName}\` needs a positive whole number (got "${text}")`,
    );
  }
  return Number(text);
}
