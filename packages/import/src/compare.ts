// What the imported files pin, compared with each other and with keypin.json.
import type { Policy } from "@keypin/core";
import { formatPlace } from "./place.js";
import type { ImportedDomain, ImportedSource, Place } from "./types.js";

/**
 * One disagreement between sources (or with keypin.json) about one domain, with the places involved.
 *
 * @example
 * ```ts
 * for (const d of compareSources(sources)) console.log(d.message);
 * // "api.myapp.com: Android (…/network_security_config.xml:5) pins sha256/…; iOS ATS (ios/App/Info.plist:20) does not"
 * ```
 */
export interface Difference {
  domain: string;
  /** `spelling`: a source names the domain in a spelling its platform never applies to it (a `not-applied` finding). */
  field: "presence" | "pins" | "includeSubdomains" | "expires" | "mode" | "reportUris" | "spelling";
  message: string;
  places: Place[];
}

/** A keypin.json, seen as one more source that can express every field. */
export function policySource(policy: Policy, file: string): ImportedSource {
  const place = { file };
  return {
    file,
    format: "android-nsc",
    platform: "keypin.json",
    domains: policy.domains.map(
      (d): ImportedDomain => ({
        domain: d.domain,
        includeSubdomains: d.includeSubdomains,
        pins: d.pins.map((p) => ({ pin: p.pin, ...(p.role !== undefined ? { role: p.role } : {}), place })),
        ...(d.expires !== undefined ? { expires: d.expires } : {}),
        mode: d.mode,
        reportUris: d.reportUris,
        place,
      }),
    ),
    findings: [],
    expresses: { expires: true, reportUris: true, reportOnly: true },
  };
}

const nameOf = (s: ImportedSource, d?: ImportedDomain) =>
  s.platform === "keypin.json" ? s.file : `${s.platform} (${formatPlace(d?.place ?? { file: s.file })})`;

/**
 * Compares what the sources pin. First, every `not-applied` finding (an entry its platform never applies to
 * the host, such as `<domain>api.myapp.com.</domain>` on Android) is a `spelling` difference, even with one
 * source. Then, for each domain: a source that leaves it out while another pins it, pins one
 * source has and another lacks, and `includeSubdomains`, `expires`, `mode` and `reportUris` where both
 * platforms can express the field at all (iOS ATS has no expiry: never a difference there).
 *
 * @example
 * ```ts
 * const sources = files.flatMap((f) => importFile(f, readFileSync(f)).sources);
 * const differences = compareSources(sources, { policy, file: "keypin.json" });
 * if (differences.length > 0) process.exitCode = 1;
 * ```
 */
export function compareSources(
  sources: readonly ImportedSource[],
  policy?: { policy: Policy; file: string },
): Difference[] {
  const all = policy === undefined ? [...sources] : [policySource(policy.policy, policy.file), ...sources];
  // Sets and maps, not includes/find: a file of 40,000 hosts took 20 s in these two lookups alone.
  const names = [...new Set(all.flatMap((s) => s.domains.map((d) => d.domain)))];
  const byDomain = new Map(
    all.map((s) => {
      const map = new Map<string, ImportedDomain>();
      for (const d of s.domains) if (!map.has(d.domain)) map.set(d.domain, d);
      return [s, map] as const;
    }),
  );
  const out: Difference[] = [];
  // An entry its platform never applies: the app does not pin the host there, whatever the other files say.
  for (const s of all) {
    for (const f of s.findings) {
      if (f.kind !== "not-applied" || f.domain === undefined) continue;
      out.push({
        domain: f.domain,
        field: "spelling",
        message: `${f.domain}: ${s.platform} (${formatPlace(f.place)}): ${f.message}`,
        places: [f.place],
      });
    }
  }
  for (const domain of names) {
    const holders = all.flatMap((s) => {
      const d = byDomain.get(s)?.get(domain);
      return d === undefined ? [] : [{ s, d }];
    });
    for (const s of all) {
      if (holders.some((h) => h.s === s)) continue;
      const reportOnlyOnly = holders.every((h) => h.d.mode === "report-only");
      if (reportOnlyOnly && !s.expresses.reportOnly) continue;
      out.push({
        domain,
        field: "presence",
        message: `${domain}: ${holders.map((h) => nameOf(h.s, h.d)).join(", ")} pin${holders.length === 1 ? "s" : ""} it; ${nameOf(s)} does not`,
        places: [...holders.map((h) => h.d.place), { file: s.file }],
      });
    }
    const pins: string[] = [];
    for (const h of holders) for (const p of h.d.pins) if (!pins.includes(p.pin)) pins.push(p.pin);
    for (const pin of pins) {
      const have = holders.filter((h) => h.d.pins.some((p) => p.pin === pin));
      const lack = holders.filter((h) => !have.includes(h));
      if (lack.length === 0) continue;
      out.push({
        domain,
        field: "pins",
        message: `${domain}: ${have.map((h) => nameOf(h.s, placed(h.d, pin))).join(", ")} pin${have.length === 1 ? "s" : ""} ${pin}; ${lack.map((h) => nameOf(h.s, h.d)).join(", ")} ${lack.length === 1 ? "does" : "do"} not`,
        places: [...have.map((h) => placed(h.d, pin).place), ...lack.map((h) => h.d.place)],
      });
    }
    const field = <K extends "includeSubdomains" | "expires" | "mode" | "reportUris">(
      key: K,
      can: (s: ImportedSource) => boolean,
      show: (d: ImportedDomain) => string,
    ) => {
      const relevant = holders.filter((h) => can(h.s));
      const values = new Set(relevant.map((h) => show(h.d)));
      if (values.size < 2) return;
      out.push({
        domain,
        field: key,
        message: `${domain}: ${key} differs: ${relevant.map((h) => `${nameOf(h.s, h.d)} ${show(h.d)}`).join("; ")}`,
        places: relevant.map((h) => h.d.place),
      });
    };
    field(
      "includeSubdomains",
      () => true,
      (d) => String(d.includeSubdomains),
    );
    field(
      "expires",
      (s) => s.expresses.expires,
      (d) => d.expires ?? "(never)",
    );
    field(
      "mode",
      (s) => s.expresses.reportOnly,
      (d) => d.mode,
    );
    field(
      "reportUris",
      (s) => s.expresses.reportUris,
      (d) => (d.reportUris.length === 0 ? "(none)" : [...d.reportUris].sort().join(" ")),
    );
  }
  return out;
}

/** The domain with its place moved to where `pin` is written. */
function placed(d: ImportedDomain, pin: string): ImportedDomain {
  const p = d.pins.find((x) => x.pin === pin);
  return p === undefined ? d : { ...d, place: p.place };
}
