import { encodePem } from "./pem.js";
import { formatHpkpPin } from "./pin.js";
import type { DomainPolicy, PinFailureReport, PinVerdict } from "./types.js";

/**
 * TrustKit's `TSKTrustEvaluationResult` values, used in a report's `validation-result`.
 *
 * @example
 * ```ts
 * report["validation-result"] === TRUSTKIT_VALIDATION_RESULT.failedNoMatchingPin; // 1
 * ```
 */
export const TRUSTKIT_VALIDATION_RESULT = {
  success: 0,
  failedNoMatchingPin: 1,
  failedInvalidCertificateChain: 2,
  errorInvalidParameters: 3,
  failedUserDefinedTrustAnchor: 4,
  errorCouldNotGenerateSpkiHash: 5,
} as const;

/**
 * Builds a pin-validation failure report: RFC 7469 §3's fields (certificate chains as PEM, known pins as
 * `pin-sha256="…"`) plus TrustKit's `enforce-pinning` and `validation-result` (1, no matching pin) and an
 * optional `app` block (e.g. `app-bundle-id`, `app-version`). It holds certificates and pins only, never
 * private keys or request data.
 *
 * @example
 * ```ts
 * if (verdict.verdict === "mismatch") {
 *   const report = buildPinFailureReport({ verdict, domainPolicy, port: 443, servedChain, validatedChain });
 *   await fetch(domainPolicy.reportUris[0]!, { method: "POST", body: JSON.stringify(report) });
 * }
 * ```
 */
export function buildPinFailureReport(input: {
  verdict: Extract<PinVerdict, { verdict: "mismatch" }>;
  domainPolicy: DomainPolicy;
  port: number;
  servedChain: Uint8Array[];
  validatedChain: Uint8Array[];
  now?: Date;
  app?: Record<string, string>;
}): PinFailureReport {
  const now = input.now ?? new Date();
  const d = input.domainPolicy;
  const report: PinFailureReport = {
    "date-time": now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    hostname: input.verdict.host,
    port: input.port,
    "include-subdomains": d.includeSubdomains,
    "noted-hostname": input.verdict.domain,
    "served-certificate-chain": input.servedChain.map((der) => encodePem(der)),
    "validated-certificate-chain": input.validatedChain.map((der) => encodePem(der)),
    "known-pins": d.pins.map((p) => formatHpkpPin(p.pin)),
    "enforce-pinning": d.mode === "enforce",
    "validation-result": TRUSTKIT_VALIDATION_RESULT.failedNoMatchingPin,
  };
  if (d.expires !== undefined) report["effective-expiration-date"] = `${d.expires}T23:59:59Z`;
  if (input.app) report.app = { ...input.app };
  return report;
}

/**
 * A stable key identifying a report apart from its `date-time`, for rate limiting (TrustKit sends the
 * same report at most once per 24 hours).
 *
 * @example
 * ```ts
 * const key = reportDedupeKey(report);
 * if (!sentToday.has(key)) { sentToday.add(key); send(report); }
 * ```
 */
export function reportDedupeKey(report: PinFailureReport): string {
  const { "date-time": _ignored, ...rest } = report;
  return stableStringify(rest);
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
