// A private, installed-style copy of the built packages for the run to measure.
//
// The working tree is shared: anyone's `npm run build` wipes and rewrites packages/*/dist, which would
// pull the code out from under a ten-minute benchmark. So right after its own build, the bench copies
// what a user would install (package.json, dist, bin, shipped files) into <dir>/node_modules, links the
// third-party dependencies from the repository's node_modules, and adds node_modules/.bin/keypin as npm
// does. Every target loads @keypin/* and runs the CLI from there.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const PACKAGES: { dir: string; name: string; needs: string[] }[] = [
  { dir: "core", name: "@keypin/core", needs: ["dist/index.js"] },
  { dir: "node", name: "@keypin/node", needs: ["dist/index.js"] },
  { dir: "export", name: "@keypin/export", needs: ["dist/index.js"] },
  { dir: "expo", name: "@keypin/expo", needs: [] },
  { dir: "lab", name: "@keypin/lab", needs: ["dist/index.js"] },
  // Issue 14: `keypin audit` loads these (the CLI bundle keeps them external).
  { dir: "proxy", name: "@keypin/proxy", needs: ["dist/index.js"] },
  { dir: "audit", name: "@keypin/audit", needs: ["dist/index.js"] },
  { dir: "collect", name: "@keypin/collect", needs: ["dist/index.js"] },
  // Issue 15: the lab's page (target 15 serves it with startLabWeb and loads it in Chromium).
  {
    dir: "lab-web",
    name: "@keypin/lab-web",
    needs: ["dist/index.js", "dist/client/index.html", "dist/client/app.js"],
  },
  {
    dir: "cli",
    name: "keypin",
    needs: [
      "dist/main.js",
      "dist/commands/hash.js",
      "dist/commands/check.js",
      "dist/cli.cjs",
      "bin/keypin.js",
    ],
  },
];

const SKIP = new Set(["src", "test", "node_modules"]);

function copyOnce(repo: string, modules: string): string[] {
  const missing: string[] = [];
  for (const pkg of PACKAGES) {
    const from = join(repo, "packages", pkg.dir);
    const to = join(modules, pkg.name);
    for (const need of pkg.needs)
      if (!existsSync(join(from, need))) missing.push(`packages/${pkg.dir}/${need}`);
    if (missing.length > 0) continue;
    mkdirSync(to, { recursive: true });
    for (const entry of readdirSync(from)) {
      if (SKIP.has(entry) || entry.startsWith("tsconfig")) continue;
      // Timestamps kept: bin/keypin.js picks the CLI bundle only when it is not older than dist/main.js.
      cpSync(join(from, entry), join(to, entry), {
        recursive: true,
        dereference: true,
        preserveTimestamps: true,
      });
    }
    if (existsSync(join(from, "node_modules")))
      symlinkSync(join(from, "node_modules"), join(to, "node_modules"));
    for (const need of pkg.needs) if (!existsSync(join(to, need))) missing.push(`${pkg.name}/${need} (copy)`);
  }
  return missing;
}

/**
 * Copies the built packages into `<dir>/node_modules` and returns that path. Waits (up to a minute)
 * when another build is rewriting dist at that moment.
 */
export async function snapshotPackages(repo: string, dir: string): Promise<string> {
  const modules = join(dir, "node_modules");
  for (let attempt = 1; ; attempt++) {
    mkdirSync(join(modules, "@keypin"), { recursive: true });
    const missing = copyOnce(repo, modules);
    if (missing.length === 0) break;
    if (attempt >= 12)
      throw new Error(`the built packages are incomplete: ${missing.join(", ")} (run npm run build)`);
    rmSync(modules, { recursive: true, force: true });
    await sleep(5000);
  }
  for (const entry of readdirSync(join(repo, "node_modules"))) {
    if (entry === "@keypin" || entry === "keypin" || entry === ".bin" || entry.startsWith(".")) continue;
    symlinkSync(join(repo, "node_modules", entry), join(modules, entry));
  }
  mkdirSync(join(modules, ".bin"));
  symlinkSync("../keypin/bin/keypin.js", join(modules, ".bin", "keypin"));
  return modules;
}

/** The file a bare specifier resolves to from inside the snapshot (through the package's exports map). */
export function resolveIn(modules: string, specifier: string): string {
  return createRequire(join(modules, "resolver.cjs")).resolve(specifier);
}
