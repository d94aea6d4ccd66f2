import { type CommandDef, renderUsage, runCommand } from "citty";
import { CliError } from "./errors.js";

/**
 * Each command lives in `commands/<name>.ts` and is loaded only when it runs,
 * so `keypin hash` does not pay for the lab's or the exporters' imports.
 */
const commands: Record<string, () => Promise<CommandDef>> = {};

async function root(): Promise<CommandDef> {
  const { readFileSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
    description: string;
  };
  return {
    meta: { name: "keypin", version: pkg.version, description: pkg.description },
    subCommands: Object.fromEntries(Object.entries(commands).map(([name, load]) => [name, () => load()])),
  };
}

/** Runs the CLI with `argv` (without `node` and the script path). The one place errors become exit codes. */
export async function main(argv: string[]): Promise<void> {
  const debug = argv.includes("--debug");
  try {
    const cmd = await root();
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
      process.stdout.write(`${await renderUsage(cmd)}\n`);
      return;
    }
    if (argv[0] === "--version" || argv[0] === "-v") {
      process.stdout.write(`${(cmd.meta as { version: string }).version}\n`);
      return;
    }
    await runCommand(cmd, { rawArgs: argv });
  } catch (error) {
    const exitCode = error instanceof CliError ? error.exitCode : 2;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`keypin: ${message}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = exitCode;
  }
}
