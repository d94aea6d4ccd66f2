// @keypin/audit: does an app pin, host by host? The exports below are the whole public API.
export {
  type AuditOptions,
  installSteps,
  ONBOARDING_HOST,
  type RunningAudit,
  startAudit,
  UPSTREAM_LOOKUPS,
  upstreamPinsOf,
} from "./audit.js";
export { type AuditCa, CA_CERT_FILE, CA_KEY_FILE, defaultCaDir, loadOrCreateAuditCa } from "./ca-store.js";
export { type ClientHello, fingerprintOf, parseClientHello } from "./client-hello.js";
export { canonicalHost, isHostName, printable } from "./host.js";
export { isSecretHeader, maskRequestLine, maskTarget, maskValue } from "./mask.js";
export { permitsHost } from "./name-constraints.js";
export { type AuditReport, formatTable, type UpstreamPins } from "./report.js";
export {
  AuditLog,
  type ExpectationFailure,
  expectationOf,
  type Folded,
  groupKey,
  LIMITS,
  type RequestEvidence,
  type TunnelRecord,
  type Verdict,
  type VerdictKind,
  verdictsOf,
} from "./verdicts.js";
