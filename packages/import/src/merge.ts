// One keypin.json from the imported sources (and, with --merge, the keypin.json already there).
import {
  type DomainPolicyInput,
  type PinRole,
  type Policy,
  type PolicyFile,
  validatePolicy,
} from "@keypin/core";
import { compareSources, type Difference } from "./compare.js";
import { ImportError } from "./errors.js";
import type { ImportedSource } from "./types.js";

/**
 * The `$schema` a new keypin.json gets.
 *
 * @example
 * ```ts
 * const file: PolicyFile = { $schema: defaultSchema, domains: {} };
 * ```
 */
export const defaultSchema = "./node_modules/@keypin/core/keypin.schema.json";

/**
 * Builds one keypin.json from the sources. Pins are united (a pin any source has is kept, so no platform's
 * users are locked out); each other field comes from the first source that can express it (keypin.json
 * first when merging). Every disagreement is in `differences`, with the places involved.
 *
 * @example
 * ```ts
 * const sources = files.flatMap((f) => importFile(f, readFileSync(f)).sources);
 * const { policyFile, differences } = mergeSources(sources);
 * writeFileSync("keypin.json", `${JSON.stringify(policyFile, null, 2)}\n`);
 * for (const d of differences) console.error(d.message);
 * ```
 */
export function mergeSources(
  sources: readonly ImportedSource[],
  base?: { file: string; policy: Policy; policyFile: PolicyFile },
): { policyFile: PolicyFile; policy: Policy; differences: Difference[] } {
  const differences = compareSources(sources, base);
  const domains: Record<string, DomainPolicyInput> = {};
  const byName = new Map<string, DomainPolicyInput>();
  if (base !== undefined) {
    for (const d of base.policy.domains) {
      const key = d.key ?? d.domain;
      const entry = structuredClone(base.policyFile.domains[key]!);
      domains[key] = entry;
      byName.set(d.domain, entry);
    }
  }
  const fromBase = new Set(byName.keys());
  const decided = new Map<DomainPolicyInput, Set<string>>();
  for (const s of sources) {
    for (const d of s.domains) {
      let entry = byName.get(d.domain);
      if (entry === undefined) {
        entry = { pins: [] };
        if (d.includeSubdomains) entry.includeSubdomains = true;
        domains[d.domain] = entry;
        byName.set(d.domain, entry);
      }
      const known = new Set(entry.pins.map((p) => (typeof p === "string" ? p : p.pin)));
      for (const p of d.pins) {
        if (known.has(p.pin)) continue;
        known.add(p.pin);
        entry.pins.push(p.role === undefined ? p.pin : { pin: p.pin, role: p.role as PinRole });
      }
      if (fromBase.has(d.domain)) continue;
      // Each field: the first source that can express it decides (a later one only adds a difference).
      const done = decided.get(entry) ?? new Set<string>();
      decided.set(entry, done);
      if (s.expresses.expires && !done.has("expires")) {
        done.add("expires");
        if (d.expires !== undefined) entry.expires = d.expires;
      }
      if (s.expresses.reportOnly && !done.has("mode")) {
        done.add("mode");
        if (d.mode === "report-only") entry.mode = "report-only";
      }
      if (s.expresses.reportUris && !done.has("reportUris")) {
        done.add("reportUris");
        if (d.reportUris.length > 0) entry.reportUris = [...d.reportUris];
      }
    }
  }
  const policyFile: PolicyFile = { $schema: base?.policyFile.$schema ?? defaultSchema, domains };
  if (base !== undefined && base.policyFile.$schema === undefined) delete policyFile.$schema;
  const validation = validatePolicy(policyFile);
  if (!validation.ok) {
    const first = validation.problems[0]!;
    throw new ImportError(
      { file: base?.file ?? "keypin.json" },
      `the merged policy is not valid: ${first.path}: ${first.message}`,
    );
  }
  return { policyFile, policy: validation.policy, differences };
}
