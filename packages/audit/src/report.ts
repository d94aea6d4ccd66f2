// The audit report: MASTG-TEST-0244's list of intercepted domains, then every verdict with its evidence, and for
// each intercepted host the pins of its real chain (from a handshake with the real server), for `keypin init`.
import { printable } from "./host.js";
import type { ExpectationFailure, Verdict } from "./verdicts.js";

export interface UpstreamPins {
  host: string;
  port: number;
  /** Leaf first, then the chain the server sent (and the anchor it verified to, when known). */
  pins: { subject: string; pin: string }[];
  error?: string;
  /** Not dialled: over finish()'s bound on lookups (`error` says so and what to do). */
  skipped?: true;
}

export interface AuditReport {
  tool: "keypin audit";
  /** The OWASP test this report answers. */
  test: "MASTG-TEST-0244";
  startedAt: string;
  endedAt: string;
  ca: { certPath: string; pin: string; notAfter: string; nameConstraints: string[] };
  /** MASTG-TEST-0244: the domains whose traffic was intercepted (no pinning). */
  interceptedDomains: string[];
  verdicts: Verdict[];
  upstreamPins: UpstreamPins[];
  /**
   * What was not kept (counts): closed tunnels folded into their verdict's counts, unjudged, or over the limit
   * (LIMITS.records; `tunnelsOverLimitExpected` of them to hosts the expectation covers, which fail it), and
   * requests counted whose evidence was not kept (past LIMITS.evidenceBytes).
   */
  kept: {
    tunnelsFolded: number;
    tunnelsUnjudged: number;
    tunnelsOverLimit: number;
    tunnelsOverLimitExpected: number;
    requestEvidenceOverBudget: number;
  };
  /**
   * `hosts`: the expected hosts (--expect-pinned, a policy's names); `failing` also names hosts a policy covers
   * (includeSubdomains) with a verdict other than pinned, and hosts whose tunnels were dropped over the limit.
   */
  expectation?: { hosts: string[]; ok: boolean; failing: ExpectationFailure[] };
}

/**
 * The report's table, one row per verdict, for a terminal (no secret values: evidence stays in --json). Every
 * cell is escaped (printable): hosts, reasons and request lines come from peers.
 */
export function formatTable(verdicts: Verdict[]): string {
  const rows = verdicts.map((v) =>
    [
      v.host,
      v.verdict + (v.evidence.inferred ? " (inferred)" : ""),
      v.client.address ? `${v.client.address} ${v.client.fingerprint.slice(0, 8)}` : "-",
      v.evidence.control
        ? `control: ${v.evidence.control.host}`
        : (v.evidence.refusals?.[0]?.reason ?? v.evidence.requests?.[0]?.requestLine ?? ""),
    ].map(printable),
  );
  const head = ["HOST", "VERDICT", "CLIENT", "EVIDENCE"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
