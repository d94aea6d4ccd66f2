// Node: a TypeScript module that builds @keypin/node's dispatcher and agent from the policy.
import type { DomainPolicy, Policy } from "@keypin/core";
import { headerLines, slashComment } from "../common.js";
import { defineExportFormat } from "../format.js";
import type { ExportOptions, ExportResult } from "../types.js";

/**
 * `node`: a TypeScript module that builds `@keypin/node`'s dispatcher and agent from the policy. Nothing is
 * lost: @keypin/node implements every field.
 *
 * @example
 * ```ts
 * exportPolicy(policy, "node", { out: "src/pinning.ts" });
 * ```
 */
export const node = defineExportFormat({
  name: "node",
  platform: "@keypin/node",
  options: [],
  defaultOut: "src/pinning.ts",
  shortFlags: false,
  export: exportNode,
});

/** The policy back in keypin.json's form, every field explicit (nothing is lost for @keypin/node). */
function toPolicyFile(policy: Policy): { domains: Record<string, unknown> } {
  const domains: Record<string, unknown> = {};
  for (const d of policy.domains) domains[d.domain] = toDomainInput(d);
  return { domains };
}

function toDomainInput(d: DomainPolicy): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    includeSubdomains: d.includeSubdomains,
    pins: d.pins.map((key) => {
      if (key.role === undefined && key.label === undefined) return key.pin;
      const pin: Record<string, string> = { pin: key.pin };
      if (key.role !== undefined) pin.role = key.role;
      if (key.label !== undefined) pin.label = key.label;
      return pin;
    }),
    mode: d.mode,
  };
  if (d.expires !== undefined) entry.expires = d.expires;
  if (d.reportUris.length > 0) entry.reportUris = d.reportUris;
  return entry;
}

function exportNode(policy: Policy, options: ExportOptions): ExportResult {
  const notes = [
    "Every field of the policy is kept: @keypin/node implements keypin's semantics (expiry, report-only, reports, subdomains at any depth).",
    "Pass extra options (ca, proxy, onReport…) to createDispatcher/createAgent; the policy always comes from this file.",
  ];
  const json = JSON.stringify(toPolicyFile(policy), null, 2)
    // U+2028/2029 are valid in JSON but end a line in older JavaScript parsers.
    .replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029");
  const lines = [
    slashComment(headerLines(node, options, notes, [])),
    'import type { Agent } from "node:https";',
    'import { createPinnedAgent, createPinnedDispatcher, type PinningOptions } from "@keypin/node";',
    "",
    "/** The policy, as in keypin.json. */",
    `export const policy: PinningOptions["policy"] = ${json};`,
    "",
    "/** @keypin/node options for this policy, plus whatever else you pass (ca, proxy, onReport…). */",
    'export function pinningOptions(extra: Omit<PinningOptions, "policy"> = {}): PinningOptions {',
    "  return { ...extra, policy };",
    "}",
    "",
    "/** An undici Dispatcher that pins: `fetch(url, { dispatcher })` with undici's fetch, or setGlobalDispatcher. */",
    'export function createDispatcher(extra: Omit<PinningOptions, "policy"> = {}): ReturnType<typeof createPinnedDispatcher> {',
    "  return createPinnedDispatcher(pinningOptions(extra));",
    "}",
    "",
    "/** A node:https Agent that pins: https.request, axios (httpsAgent), got (agent.https), ws (agent). */",
    'export function createAgent(extra: Omit<PinningOptions, "policy"> = {}): Agent {',
    "  return createPinnedAgent(pinningOptions(extra));",
    "}",
  ];
  return { content: `${lines.join("\n")}\n`, differences: [], notes };
}
