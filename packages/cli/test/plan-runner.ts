// Runs `keypin plan` from its exported definition, as main.ts will once the command table lists it: strict
// argument parsing, then `run`, and one line on stderr with the exit code of the error. (Until `plan` has its line
// in src/command-table.ts, the built bin does not know it.)
import { parseArgs } from "../src/args.js";
import plan from "../src/commands/plan.js";
import { exitCodeOf, oneLine } from "../src/errors.js";

const argv = process.argv.slice(2);
try {
  const args = parseArgs(argv, plan.args!, "keypin plan");
  await plan.run({ rawArgs: argv, args });
} catch (error) {
  process.stderr.write(`keypin: ${oneLine(error)}\n`);
  process.exitCode = exitCodeOf(error);
}
