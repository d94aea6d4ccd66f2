import type { ArgsDef, CommandContext, CommandDef } from "citty";

/**
 * A keypin command: a citty `CommandDef` plus what the help shows beyond citty's fields.
 * `main.ts` runs any citty `CommandDef` (the `export` and `lab` commands use citty's own `defineCommand`).
 */
export type KeypinCommand<T extends ArgsDef = ArgsDef> = CommandDef<T> & {
  /** The usage line after `keypin <name>`, e.g. `[options] <file…|->`. */
  usage?: string;
  /** Lines of examples for `keypin help <name>`. */
  examples?: string[];
  /** What each exit code means for this command. */
  exitCodes?: Partial<Record<0 | 1 | 2, string>>;
};

/** The context a command's `run` gets (citty's shape). */
export type RunContext<T extends ArgsDef = ArgsDef> = CommandContext<T>;

/**
 * Declares a command, with the same shape as citty's `defineCommand` but without loading citty
 * (citty imports consola, which costs more start-up time than the whole `keypin hash` command).
 *
 * @example
 * export default defineCommand({
 *   meta: { name: "hash", description: "Print pins" },
 *   args: { json: { type: "boolean", description: "print JSON" } },
 *   run({ args }) { … },
 * });
 */
export function defineCommand<T extends ArgsDef = ArgsDef>(def: KeypinCommand<T>): KeypinCommand<T> {
  return def;
}
