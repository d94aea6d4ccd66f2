// Runs `keypin import …` in a child process: through main() once `import` is in the command table, through
// the same steps main() takes (strict argument parsing, one error line, the exit code of the error) until then.
import { parseArgs } from "../src/args.js";
import { commandTable } from "../src/command-table.js";
import command from "../src/commands/import.js";
import { exitCodeOf, oneLine } from "../src/errors.js";

const argv = process.argv.slice(2);
if (process.env.KEYPIN_IMPORT_TEST_CWD) process.chdir(process.env.KEYPIN_IMPORT_TEST_CWD);
if (commandTable.some((c) => c.name === "import")) {
  const { main } = await import("../src/main.js");
  await main(["import", ...argv]);
} else {
  try {
    const args = parseArgs(argv, command.args ?? {}, "keypin import");
    await command.run({ rawArgs: argv, args: args as never });
  } catch (error) {
    process.stderr.write(`keypin: ${oneLine(error)}\n`);
    process.exitCode = exitCodeOf(error);
  }
}
