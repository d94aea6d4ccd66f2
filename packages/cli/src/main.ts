import { parseArgs } from "./args.js";
import type { KeypinCommand } from "./command.js";
import { type CommandEntry, commandTable } from "./command-table.js";
import { codeOf, exitCodeOf, FailureError, isCliError, oneLine, UsageError } from "./errors.js";
import { colorsFor, disableColors } from "./output.js";

// Set by scripts/bundle.mjs (esbuild `define`) in the CommonJS bundle; undefined in the tsc output.
declare const __KEYPIN_BUNDLE__: boolean | undefined;
declare const __KEYPIN_VERSION__: string | undefined;
const bundled = typeof __KEYPIN_BUNDLE__ !== "undefined" && __KEYPIN_BUNDLE__;

function findCommand(name: string): CommandEntry | undefined {
  return commandTable.find((entry) => entry.name === name);
}

/**
 * Loads one command module, as its table entry says (see `command-table.ts`); a command that is not
 * built (yet) is a clear failure, not a crash.
 */
async function loadCommand({ name, bundled: inBundle }: CommandEntry): Promise<KeypinCommand> {
  let mod: { default?: KeypinCommand };
  try {
    if (bundled && inBundle) {
      // The CommonJS bundle (scripts/bundle.mjs): one file per command, next to dist/cli.cjs.
      mod = require(["./cli-commands/", name, ".cjs"].join("")) as { default?: KeypinCommand };
    } else {
      // A computed specifier, so that a bundler leaves the per-command split to run time.
      const specifier = ["./commands/", name, ".js"].join("");
      mod = (await import(specifier)) as { default?: KeypinCommand };
    }
  } catch (error) {
    const code = codeOf(error);
    const missing =
      (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
      new RegExp(`commands/${name}\\.c?js`).test(String((error as Error).message));
    if (missing) {
      throw new FailureError(
        `\`keypin ${name}\` is not in this build (commands/${name}.js is missing): update keypin, or run \`npm run build\` in the keypin repository`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!mod.default || typeof mod.default !== "object") {
    throw new FailureError(
      `\`keypin ${name}\` is broken in this build: commands/${name}.js has no default command`,
    );
  }
  return mod.default;
}

async function readVersion(): Promise<string> {
  if (typeof __KEYPIN_VERSION__ === "string") return __KEYPIN_VERSION__;
  const { readFileSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function closest(name: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return row[b.length]!;
  };
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function unknownCommand(name: string): UsageError {
  const names = [...commandTable.map((entry) => entry.name), "help"];
  const suggestion = closest(name, names);
  return new UsageError(
    `unknown command "${name}"${suggestion ? ` (did you mean \`keypin ${suggestion}\`?)` : ""}; commands: ${names.join(", ")}`,
  );
}

/** Runs a command: `--help` shows its help; otherwise strict argument parsing (unknown options are usage errors), then `run`. */
async function runCommand(cmd: KeypinCommand, argv: string[], entry: CommandEntry): Promise<void> {
  const { name } = entry;
  const help = argv.indexOf("--") === -1 ? argv : argv.slice(0, argv.indexOf("--"));
  if (help.includes("--help") || help.includes("-h")) {
    const { renderCommandHelp } = await import("./usage.js");
    process.stdout.write(renderCommandHelp(entry, cmd, colorsFor(process.stdout)));
    return;
  }
  const args = parseArgs(argv, cmd.args ?? {}, `keypin ${name}`);
  await cmd.run({ rawArgs: argv, args });
}

/**
 * Runs the CLI with `argv` (without `node` and the script path). This is the one place errors become a
 * line on stderr (`keypin: …`, with the stack only under `--debug`) and an exit code:
 * 0 done, 1 a failure was found, 2 usage or input error (nothing on stdout then).
 *
 * @example
 * await main(["hash", "cert.pem"]);
 */
export async function main(argv: readonly string[]): Promise<void> {
  const end = argv.indexOf("--");
  const options = end === -1 ? [...argv] : argv.slice(0, end);
  const rest = end === -1 ? [] : argv.slice(end);
  const debug = options.includes("--debug");
  if (options.includes("--no-color")) disableColors();
  const args = [...options.filter((a) => a !== "--debug" && a !== "--no-color"), ...rest];
  process.stdout.on("error", (error) => {
    // `keypin … | head` closes the pipe early: that is not an error worth a stack.
    if (codeOf(error) !== "EPIPE") throw error;
  });
  try {
    await dispatch(args);
  } catch (error) {
    const exitCode = exitCodeOf(error);
    const known = isCliError(error) || codeOf(error)?.startsWith("ERR_KEYPIN_");
    const message = oneLine(error);
    const hint =
      known || debug ? "" : " (this looks like a bug in keypin; run again with --debug for the stack)";
    const c = colorsFor(process.stderr);
    process.stderr.write(`${c.red("keypin:")} ${message}${hint}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = exitCode;
  }
}

async function dispatch(args: string[]): Promise<void> {
  const first = args[0];
  if (first === undefined || first === "--help" || first === "-h") {
    const { renderRootHelp } = await import("./usage.js");
    process.stdout.write(renderRootHelp(await readVersion(), commandTable, colorsFor(process.stdout)));
    return;
  }
  if (first === "--version" || first === "-v" || first === "-V") {
    if (args.length > 1) throw new UsageError(`\`keypin ${first}\` takes no arguments (got "${args[1]}")`);
    process.stdout.write(`${await readVersion()}\n`);
    return;
  }
  if (first.startsWith("-")) {
    throw new UsageError(
      `unknown option ${first.split("=")[0]} (options go after the command; see \`keypin --help\`)`,
    );
  }
  if (first === "help") {
    const target = args[1];
    if (target === undefined) return dispatch(["--help"]);
    const entry = findCommand(target);
    if (!entry) throw unknownCommand(target);
    if (args.length > 2)
      throw new UsageError(`\`keypin help\` takes one command name (got "${args.slice(2).join(" ")}")`);
    return runCommand(await loadCommand(entry), ["--help"], entry);
  }
  const entry = findCommand(first);
  if (!entry) throw unknownCommand(first);
  await runCommand(await loadCommand(entry), args.slice(1), entry);
}
