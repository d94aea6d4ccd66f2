// How `keypin export` names the files it was given, in its notes and in the header's regenerate command.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makePki, makeTempDir, runCliSync } from "@keypin/testkit";

const policy = {
  domains: {
    "api.myapp.test": {
      pins: [
        { pin: "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", role: "leaf" },
        { pin: "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=", role: "backup" },
      ],
      renewal: { reuseKey: true },
    },
  },
};

describe("keypin export: paths as given", () => {
  const tmp = makeTempDir("keypin-export-paths-");
  const project = join(tmp.dir, "project", "app");
  const elsewhere = join(tmp.dir, "elsewhere");

  before(() => {
    mkdirSync(project, { recursive: true });
    mkdirSync(elsewhere, { recursive: true });
    makePki(elsewhere, ["localhost"]);
    mkdirSync(join(project, "pki"));
    makePki(join(project, "pki"), ["localhost"]);
    writeFileSync(join(project, "keypin.json"), JSON.stringify(policy));
  });
  after(() => tmp.remove());

  it("names an absolute --debug-proxy-ca outside the folder by its absolute path, not ../../…", () => {
    const ca = join(elsewhere, "ca.pem");
    const r = runCliSync(["export", "-f", "android-nsc", "--debug-proxy-ca", ca], { cwd: project });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(`Copy ${ca} to app/src/main/res/raw/ca.pem`), r.stderr);
    assert.doesNotMatch(r.stderr, /Copy \.\./);
    assert.ok(r.stdout.includes(`-d ${ca}`), "the regenerate command names it the same way");
  });

  it("still names a path inside the folder the same way, absolute or relative, so --check agrees with both", () => {
    const relative = runCliSync(["export", "-f", "android-nsc", "--debug-proxy-ca", "./pki/ca.pem"], {
      cwd: project,
    });
    const absolute = runCliSync(
      ["export", "-f", "android-nsc", "--debug-proxy-ca", join(project, "pki", "ca.pem")],
      {
        cwd: project,
      },
    );
    assert.equal(relative.code, 0, relative.stderr);
    assert.match(relative.stderr, /Copy pki\/ca\.pem to /);
    assert.equal(absolute.stdout, relative.stdout);
  });
});
