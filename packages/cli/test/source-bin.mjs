// The CLI from its sources (packages/cli/src, @keypin/* from their src through the repository's tsconfig paths),
// for tests of changes that are not built yet: runCli(args, { bin: sourceBin }).
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../../../tsconfig.json", import.meta.url)) });
const { main } = await import("../src/main.ts");
await main(process.argv.slice(2));
