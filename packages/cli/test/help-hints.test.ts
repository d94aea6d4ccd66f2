// The placeholder each option's help shows for its value: what kind of value it takes (FILE, NAME, LIST…),
// the same word for the same kind across commands, never just the option's name in capitals.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runCliSync } from "@keypin/testkit";

const expected: Record<string, string[]> = {
  export: [
    "--format FORMAT",
    "--policy FILE",
    "--out FILE",
    "--debug-proxy-ca FILE",
    "--audit-ca FILE",
    "--package NAME",
  ],
  lab: ["--scenario LIST", "--port N"],
  inspect: ["--servername NAME", "--connect-to H1:P1:H2:P2", "--ca FILE", "--proxy URL", "--timeout MS"],
  check: ["--policy FILE", "--host NAME[:PORT]", "--concurrency N", "--platforms LIST", "--ca FILE"],
};

describe("option value placeholders in help", () => {
  for (const [command, hints] of Object.entries(expected)) {
    it(`keypin help ${command} names each value by its kind`, () => {
      const help = runCliSync(["help", command]);
      assert.equal(help.code, 0, help.stderr);
      const options = help.stdout.split("\n").filter((line) => /^ {2}--/.test(line));
      for (const hint of hints) {
        assert.ok(
          options.some((line) => line.startsWith(`  ${hint} `) || line.startsWith(`  ${hint},`)),
          `${hint} in:\n${options.join("\n")}`,
        );
      }
      for (const line of options) {
        const [, name, value] = /^ {2}--([a-z-]+) ([^ ,]+)/.exec(line) ?? [];
        if (name === undefined || name === "format") continue;
        assert.notEqual(value, name.toUpperCase(), `--${name} shows its own name as its value: ${line}`);
      }
    });
  }
});
