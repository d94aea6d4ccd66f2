// `keypin init` with its defaults, then `keypin check --strict` on the policy it just wrote: the README's
// "init, then check in CI" must pass on a server that init read a moment before.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCli } from "@keypin/testkit";
import { useInitServer } from "./init-fixture.js";

interface CheckJson {
  ok: boolean;
  warnings: { code: string }[];
  hosts: { status: string; warnings: { code: string }[] }[];
}

describe("keypin init, then keypin check --strict", () => {
  const fx = useInitServer("Init Check", "ec-p256");

  it("passes on the leaf + backup policy init writes by default, which records that renewals keep the leaf key", async () => {
    const out = join(fx.tmp.dir, "keypin.json");
    const init = await fx.initWithBackup(["--out", out]);
    assert.equal(init.code, 0, init.stderr);
    const written = fx.readPolicy(out).domains["api.myapp.test"]!;
    assert.deepEqual(
      written.pins.map((p) => p.role),
      ["leaf", "backup"],
    );
    assert.deepEqual(written.renewal, { reuseKey: true });
    const check = await runCli(["check", "--policy", out, ...fx.route(), "--strict", "--json"]);
    const report = JSON.parse(check.stdout) as CheckJson;
    assert.deepEqual(
      report.hosts.flatMap((h) => h.warnings.map((w) => w.code)),
      [],
      "the leaf-only match is no warning when renewals keep the leaf key",
    );
    assert.equal(check.code, 0, check.stdout);
    assert.equal(report.ok, true);
  });
});
