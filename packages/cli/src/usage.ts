import type { KeypinCommand, PositionalArg } from "./command.js";
import type { CommandEntry } from "./command-table.js";
import { type Colors, formatTable } from "./output.js";

/** Options every command accepts; `main.ts` handles them before the command sees its arguments. */
export const globalOptions: readonly (readonly [string, string])[] = [
  ["--help, -h", "show help for the command"],
  ["--debug", "show stack traces of errors"],
  ["--no-color", "plain output (also NO_COLOR=1, or when not a terminal)"],
];

/**
 * The help text of one command: its summary (from the command table), usage line, arguments, options, exit
 * codes, examples.
 *
 * @example
 * process.stdout.write(renderCommandHelp(commandTable[1]!, hashCommand, colorsFor(process.stdout)));
 */
export function renderCommandHelp(
  { name, summary }: Pick<CommandEntry, "name" | "summary">,
  cmd: KeypinCommand,
  c: Colors,
): string {
  const args = cmd.args ?? {};
  const positionals = Object.entries(args).filter(
    (entry): entry is [string, PositionalArg] => entry[1].type === "positional",
  );
  const options = Object.entries(args).filter(([, def]) => def.type !== "positional");
  const usage =
    cmd.usage ??
    [
      options.length > 0 ? "[options]" : "",
      ...positionals.map(([n, def]) =>
        def.required === false || def.default !== undefined ? `[${n}]` : `<${n}>`,
      ),
    ]
      .filter(Boolean)
      .join(" ");
  const lines: string[] = [];
  lines.push(`${c.bold(`keypin ${name}`)}: ${summary}`, "");
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
  if (cmd.exitCodes) {
    lines.push("", c.bold("Exit codes:"));
    const rows = Object.entries(cmd.exitCodes).map(([code, text]) => [code, text ?? ""]);
    lines.push(...formatTable(rows, "  "));
  }
  if (cmd.examples && cmd.examples.length > 0) {
    lines.push("", c.bold("Examples:"), ...cmd.examples.map((e) => `  ${c.dim("$")} ${e}`));
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The help text of `keypin` itself: the commands of the table with one line each.
 *
 * @example
 * renderRootHelp("0.1.0", [{ name: "hash", summary: "print pins" }], colorsFor(process.stdout));
 */
export function renderRootHelp(
  version: string,
  commands: readonly Pick<CommandEntry, "name" | "summary">[],
  c: Colors,
): string {
  const lines = [
    `${c.bold("keypin")} ${version}: SSL public-key pinning that survives key rotation, for mobile and Node apps`,
    "",
    `${c.bold("Usage:")} keypin <command> [options]`,
    "",
    c.bold("Commands:"),
    ...formatTable(
      commands.map(({ name, summary }) => [c.cyan(name), summary]),
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
