// Shared by the @keypin/export tests: the golden policies (certificates and temp dirs are @keypin/testkit's).
import { readFileSync } from "node:fs";
import type { Policy } from "@keypin/core";
import { parsePolicy } from "@keypin/core";

export const goldenDir = new URL("./golden/", import.meta.url);
export const repoRoot = new URL("../../../", import.meta.url).pathname;

/** A golden policy file, parsed as the CLI would. */
export function goldenPolicy(name: "keypin.json" | "keypin.rich.json"): Policy {
  return parsePolicy(JSON.parse(readFileSync(new URL(name, goldenDir), "utf8"))).policy;
}
