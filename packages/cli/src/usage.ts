import type { ArgsDef, CommandDef, CommandMeta } from "citty";
import type { KeypinCommand } from "./command.js";
import { type Colors, formatTable } from "./output.js";

/** Options every command accepts; `main.ts` handles them before the command sees its arguments. */
export const globalOptions: readonly (readonly [string, string])[] = [
  ["--help, -h", "show help for the command"],
  ["--debug", "show stack traces of errors"],
  ["--no-color", "plain output (also NO_COLOR=1, or when not a terminal)"],
];

async function resolve<T>(
  value: T | Promise<T> | (() => T) | (() => Promise<T>) | undefined,
): Promise<T | undefined> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/**
 * The help text of one command: description, usage line, arguments, options, exit codes, examples.
 *
 * @example
 * process.stdout.write(await renderCommandHelp("hash", hashCommand, colorsFor(process.stdout)));
 */
export async function renderCommandHelp(name: string, cmd: CommandDef, c: Colors): Promise<string> {
  const meta = ((await resolve(cmd.meta)) ?? {}) as CommandMeta;
  const args = ((await resolve(cmd.args)) ?? {}) as ArgsDef;
  const extra = cmd as KeypinCommand;
  const positionals = Object.entries(args).filter(([, def]) => def.type === "positional");
  const options = Object.entries(args).filter(([, def]) => def.type !== "positional");
  const usage =
    extra.usage ??
    [
      options.length > 0 ? "[options]" : "",
      ...positionals.map(([n, def]) =>
        def.required === false || def.default !== undefined ? `[${n}]` : `<${n}>`,
      ),
    ]
      .filter(Boolean)
      .join(" ");
  const lines: string[] = [];
  lines.push(`${c.bold(`keypin ${name}`)}: ${meta.description ?? ""}`, "");
  lines.push(`${c.bold("Usage:")} keypin ${name}${usage ? ` ${usage}` : ""}`);
  if (positionals.length > 0) {
    lines.push("", c.bold("Arguments:"));
    lines.push(
      ...formatTable(
        positionals.map(([n, def]) => [c.cyan(n), def.description ?? ""]),
        "  ",
      ),
    );
  }
  const subCommands = (await resolve(cmd.subCommands)) as Record<string, unknown> | undefined;
  if (subCommands && Object.keys(subCommands).length > 0) {
    lines.push("", c.bold("Commands:"));
    const rows: string[][] = [];
    for (const [sub, def] of Object.entries(subCommands)) {
      const subDef = (await resolve(def as CommandDef)) as CommandDef | undefined;
      const subMeta = ((await resolve(subDef?.meta)) ?? {}) as CommandMeta;
      rows.push([c.cyan(sub), subMeta.description ?? ""]);
    }
    lines.push(...formatTable(rows, "  "));
  }
  lines.push("", c.bold("Options:"));
  const optionRows = options.map(([n, def]) => {
    const aliases = "alias" in def && def.alias !== undefined ? [def.alias].flat() : [];
    const hint = def.type === "string" ? ` ${def.valueHint ?? n.toUpperCase()}` : "";
    const names = [`--${n}${hint}`, ...aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`))].join(", ");
    const dflt =
      def.default !== undefined && def.default !== false && def.default !== ""
        ? ` (default: ${def.default})`
        : "";
    return [c.cyan(names), `${def.description ?? ""}${dflt}`];
  });
  lines.push(...formatTable([...optionRows, ...globalOptions.map(([n, d]) => [c.cyan(n), d])], "  "));
  if (extra.exitCodes) {
    lines.push("", c.bold("Exit codes:"));
    const rows = Object.entries(extra.exitCodes).map(([code, text]) => [code, text ?? ""]);
    lines.push(...formatTable(rows, "  "));
  }
  if (extra.examples && extra.examples.length > 0) {
    lines.push("", c.bold("Examples:"), ...extra.examples.map((e) => `  ${c.dim("$")} ${e}`));
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The help text of `keypin` itself: the commands with one line each.
 *
 * @example
 * renderRootHelp("0.1.0", [["hash", "Print pins"]], colorsFor(process.stdout));
 */
export function renderRootHelp(
  version: string,
  commands: readonly (readonly [string, string])[],
  c: Colors,
): string {
  const lines = [
    `${c.bold("keypin")} ${version}: SSL public-key pinning that survives key rotation, for mobile and Node apps`,
    "",
    `${c.bold("Usage:")} keypin <command> [options]`,
    "",
    c.bold("Commands:"),
    ...formatTable(
      commands.map(([n, d]) => [c.cyan(n), d]),
      "  ",
    ),
    "",
    c.bold("Options:"),
    ...formatTable(
      [["--version, -v", "print the version"], ...globalOptions].map(([n, d]) => [c.cyan(n ?? ""), d ?? ""]),
      "  ",
    ),
    "",
    `Run ${c.cyan("keypin help <command>")} for a command's options and exit codes.`,
    "Exit codes: 0 done (and every check passed), 1 a failure was found, 2 usage or input error.",
  ];
  return `${lines.join("\n")}\n`;
}
