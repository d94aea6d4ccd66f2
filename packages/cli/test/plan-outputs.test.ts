// keypin plan's --ics and --svg (review cli-3, findings 4 and 5), run from the sources (source-bin.mjs): an output
// that is, or links to, an input of the run (the policy, a chain, an ARI document) is refused with nothing
// written; before, `plan --svg keypin.json --ics chain.pem` replaced both with a timeline and a calendar.
import assert from "node:assert/strict";
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createChain, makeTempDir, policyOf, runCli, type TestChain, unrelatedPin } from "@keypin/testkit";

const sourceBin = fileURLToPath(new URL("./source-bin.mjs", import.meta.url));
const tmp = makeTempDir("keypin-cli-plan-outputs-");
after(() => tmp.remove());

let chain: TestChain;
before(async () => {
  chain = await createChain("p256", ["api.test"], "plan-outputs");
});

describe("keypin plan writes no output over one of its inputs", () => {
  it("refuses --svg over the policy, --ics over the chain, and either through a symbolic link", async () => {
    const policy = join(tmp.dir, "keypin.json");
    writeFileSync(policy, JSON.stringify(policyOf({ "api.test": [chain.leaf.pin, unrelatedPin()] })));
    const chainFile = join(tmp.dir, "chain.pem");
    writeFileSync(chainFile, chain.served);
    symlinkSync("chain.pem", join(tmp.dir, "link.pem"));
    const inputs = [readFileSync(policy), readFileSync(chainFile)];
    const base = ["plan", "--policy", "keypin.json", "--offline", "--chain", "api.test=chain.pem"];
    for (const outputs of [
      ["--svg", "keypin.json", "--ics", "chain.pem"],
      ["--ics", "keypin.json"],
      ["--svg", "link.pem"],
    ]) {
      const run = await runCli([...base, ...outputs], { bin: sourceBin, cwd: tmp.dir, killAfterMs: 20_000 });
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
      assert.match(
        run.stderr,
        /is (the same file as [^,]+, )?an input of this command: writing it would destroy that input/,
      );
      assert.deepEqual([readFileSync(policy), readFileSync(chainFile)], inputs, outputs.join(" "));
    }
    assert.ok(lstatSync(join(tmp.dir, "link.pem")).isSymbolicLink());
    const fine = await runCli([...base, "--ics", "plan.ics"], {
      bin: sourceBin,
      cwd: tmp.dir,
      killAfterMs: 20_000,
    });
    assert.ok(fine.code === 0 || fine.code === 1, fine.stderr);
    assert.match(readFileSync(join(tmp.dir, "plan.ics"), "utf8"), /^BEGIN:VCALENDAR\r\n/);
  });
});
