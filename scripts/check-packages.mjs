// Checks every published workspace package as npm would pack it, with publint (errors and warnings fail).
// `npm run check:packages` after a build; test/packaging.test.ts does the same inside `npm test`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { publint } from "publint";
import { formatMessage } from "publint/utils";

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));
let problems = 0;
for (const dir of readJson("package.json").workspaces) {
  const pkg = readJson(join(dir, "package.json"));
  if (pkg.private) continue; // never published (the test kit)
  const { messages } = await publint({ pkgDir: dir, pack: "npm", level: "warning" });
  for (const message of messages) console.error(`${pkg.name}: ${formatMessage(message, pkg)}`);
  problems += messages.length;
  if (messages.length === 0) console.log(`${pkg.name}: ok`);
}
if (problems > 0) {
  console.error(`check:packages: ${problems} problem${problems === 1 ? "" : "s"} found by publint.`);
  process.exit(1);
}
