import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KeypinCommand } from "./command.js";
import { commandTable } from "./command-table.js";
import { colorsFor } from "./output.js";
import { renderCommandHelp, renderRootHelp } from "./usage.js";

const plain = colorsFor({ isTTY: false });

/** Each command's module, loaded from the sources as main.ts loads the built one. */
async function loadCommands(): Promise<{ name: string; summary: string; cmd: KeypinCommand }[]> {
  return Promise.all(
    commandTable.map(async ({ name, summary }) => {
      const mod = (await import(`./commands/${name}.js`)) as { default: KeypinCommand };
      return { name, summary, cmd: mod.default };
    }),
  );
}

describe("the command table", () => {
  it("says what each command does once: a command's module names itself and repeats no other line", async () => {
    for (const { name, summary, cmd } of await loadCommands()) {
      assert.equal(cmd.meta.name, name, `commands/${name}.ts names itself`);
      if (cmd.meta.description !== undefined) {
        assert.equal(
          cmd.meta.description,
          summary,
          `commands/${name}.ts: its description is the table's summary`,
        );
      }
    }
  });

  it("starts `keypin help <name>` with the summary `keypin --help` lists for it", async () => {
    const root = renderRootHelp("0.0.0", commandTable, plain);
    for (const { name, summary, cmd } of await loadCommands()) {
      const first = renderCommandHelp({ name, summary }, cmd, plain).split("\n")[0];
      assert.equal(first, `keypin ${name}: ${summary}`);
      assert.match(root, new RegExp(`\\n  ${name} +${summary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n`));
    }
  });

  it("keeps each summary one line that fits beside the names in `keypin --help`", () => {
    for (const { name, summary } of commandTable) {
      assert.doesNotMatch(summary, /\n/, name);
      assert.ok(summary.length <= 120, `${name}: ${summary.length} characters`);
      assert.match(summary, /^[a-z]/, `${name}: lower case, as the other lines of the help`);
      assert.doesNotMatch(summary, /\.$/, `${name}: no full stop`);
    }
  });
});
