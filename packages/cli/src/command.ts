/** A `--flag` that is on or off (`--no-flag` turns it off). */
export interface BooleanArg {
  type: "boolean";
  description?: string;
  /** Other names: one letter for `-x`, longer for `--name`. */
  alias?: string | readonly string[];
  default?: boolean;
}

/** A `--name VALUE` option (also `--name=VALUE`, `-xVALUE`). */
export interface StringArg {
  type: "string";
  description?: string;
  /** What the help shows after the flag (default: the name in capitals). */
  valueHint?: string;
  /** Other names: one letter for `-x`, longer for `--name`. */
  alias?: string | readonly string[];
  default?: string;
  /** Without it, the command is a usage error (`keypin export` needs --format). */
  required?: boolean;
  /** May be given several times; its value is then the list (empty when not given). Without it, twice is a usage error. */
  repeatable?: boolean;
  /** The only values it takes; any other is a usage error that lists them. */
  choices?: readonly string[];
}

/** A positional argument, filled in order. */
export interface PositionalArg {
  type: "positional";
  description?: string;
  default?: string;
  /** `false`: may be left out. */
  required?: boolean;
}

/** One argument of a command. */
export type ArgDef = BooleanArg | StringArg | PositionalArg;

/** A command's arguments, by long name (`"passphrase-file"`), in the order the help lists them. */
export type ArgsDef = Readonly<Record<string, ArgDef>>;

type Given<D> = D extends { default: unknown } | { required: true } ? never : undefined;

/** The parsed value of one argument. */
export type ArgValue<D extends ArgDef> = D extends BooleanArg
  ? boolean | Given<D>
  : D extends { repeatable: true }
    ? string[]
    : D extends { choices: readonly (infer C extends string)[] }
      ? C | Given<D>
      : string | Given<D>;

/**
 * What `run` gets: each argument's value by its long name, and every positional in `_`.
 *
 * @example
 * const args: ParsedArgs<{ json: { type: "boolean" } }> = { _: [], json: true };
 */
export type ParsedArgs<T extends ArgsDef = ArgsDef> = string extends keyof T
  ? { _: string[] } & Record<string, string | boolean | string[] | undefined>
  : { _: string[] } & { -readonly [K in keyof T]: ArgValue<T[K]> };

/** The context a command's `run` gets. */
export interface RunContext<T extends ArgsDef = ArgsDef> {
  /** The arguments as given (after the global options were taken out). */
  rawArgs: readonly string[];
  args: ParsedArgs<T>;
}

/**
 * A keypin command: what `commands/<name>.ts` exports as default. Its name and its one-line summary (the first
 * line of its help too) are in `command-table.ts`; this is the rest of its help and what it does.
 */
export interface KeypinCommand<T extends ArgsDef = ArgsDef> {
  meta: {
    name: string;
    /**
     * Leave it out: what the command does is its `summary` in `command-table.ts`, the first line of `keypin help
     * <name>`. Where a command still says it, it must be the summary word for word (command-table.test.ts).
     */
    description?: string;
  };
  args?: T;
  /** The usage line after `keypin <name>`, e.g. `[options] <file…|->` (default: from `args`). */
  usage?: string;
  /** Lines of examples for `keypin help <name>`. */
  examples?: string[];
  /** What each exit code means for this command. */
  exitCodes?: Partial<Record<0 | 1 | 2, string>>;
  /** Does the work; a thrown error becomes one line on stderr and an exit code in `main.ts`. */
  run(context: RunContext<T>): void | Promise<void>;
}

/**
 * Declares a command, keeping the literal types of its arguments so that `run` sees them typed:
 * a repeatable option is a `string[]`, one with `choices` their union, a boolean a `boolean`.
 *
 * @example
 * export default defineCommand({
 *   meta: { name: "hash" },
 *   args: { json: { type: "boolean", description: "print JSON" } },
 *   run({ args }) { … },
 * });
 */
export function defineCommand<const T extends ArgsDef = ArgsDef>(def: KeypinCommand<T>): KeypinCommand<T> {
  return def;
}
