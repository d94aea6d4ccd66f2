// The planner: one host's live path, pins and release facts in; its dated plan out.
import { KeypinError } from "@keypin/core";
import { addDays, formatDay, startOfDay } from "./dates.js";
import { hostDeadlines, scheduleFindings } from "./deadlines.js";
import { caFamilyFindings, forecastRenewals, predictKeyChanges } from "./risk.js";
import type { HostPlan, PinPlan, Plan, PlanFinding, PlanHostInput, PlanOptions } from "./types.js";

/** Default horizon of a plan, in days: two years, enough to show the next SC-081 step from any day. */
export const defaultHorizonDays = 730;

function checkOptions(options: PlanOptions): void {
  const bad = (message: string) => new KeypinError("ERR_KEYPIN_OPTIONS", message);
  if (!(options.now instanceof Date) || Number.isNaN(options.now.getTime())) {
    throw bad("plan option now must be a valid Date");
  }
  for (const name of ["releaseDays", "adoptionDays", "horizonDays"] as const) {
    const value = options[name];
    if (value === undefined && name === "horizonDays") continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 3650) {
      throw bad(`plan option ${name} must be a whole number of days from 0 to 3650 (got ${String(value)})`);
    }
  }
}

function reasonText(pin: PinPlan): string {
  switch (pin.reason) {
    case "leaf-renewal":
      return "the renewal makes a new key";
    case "ari-renewal":
      return "the renewal the CA's ARI window brings forward makes a new key";
    case "family-rotation":
      return "the CA may issue the renewed certificate from another intermediate";
    case "issuer-end-of-life":
      return "the next certificate would outlive this CA certificate, so the CA issues from another";
    case "cross-sign-expiry":
      return "the cross-sign the path goes through expires";
    case "expiry":
      return "the certificate expires";
    case undefined:
      return "";
    default: {
      const never: never = pin.reason;
      return never;
    }
  }
}

/** Who says renewals keep the leaf key, as the messages name it. */
function reuseKeyWord(input: PlanHostInput): string {
  if (input.reuseKeyFrom === "option") return "--reuse-key";
  if (input.reuseKeyFrom === "policy") return `keypin.json: "renewal": { "reuseKey": true }`;
  return "reuseKey";
}

// RFC 3986's characters (unreserved, reserved, and % for an escape): ASCII with no control, space, quote,
// backslash, angle bracket or brace.
const URI_CHARACTERS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?#[\]%]+$/;

/**
 * Whether an ARI explanationURL (RFC 9773 §4.2: a URL for a human) may be shown and linked: an absolute
 * https URL as RFC 3986 writes it (its characters only, every % an escape, `[` and `]` only around an IPv6
 * host), with a host and a numeric port if any, of at most 2,000 characters. The document comes from a CA's
 * server (or a file), so anything else, such as text with terminal escapes or calendar lines in it, is not
 * shown.
 *
 * @example
 * isExplanationUrl("https://ca.example/ari/why"); // true
 * isExplanationUrl("https://ca.example/\x1b[2K"); // false
 */
function isExplanationUrl(url: string): boolean {
  if (url.length > 2000 || !URI_CHARACTERS.test(url) || /%(?![0-9A-Fa-f]{2})/.test(url)) return false;
  const match = /^https:\/\/([^/?#]*)([/?#].*)?$/i.exec(url);
  if (!match) return false;
  const [, authority = "", rest = ""] = match;
  if (/[[\]]/.test(rest)) return false;
  const at = authority.lastIndexOf("@");
  if (/[[\]@]/.test(authority.slice(0, Math.max(at, 0)))) return false;
  // host (a reg-name or a bracketed IPv6 address), then an optional port
  return /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?$/.test(
    authority.slice(at + 1),
  );
}

/** The ARI finding's words for its explanationURL: the URL in parentheses, or a note that it was ignored. */
function explanationOf(url: string | undefined): string {
  if (url === undefined || url === "") return "";
  return isExplanationUrl(url)
    ? ` (${url})`
    : " (its explanationURL was ignored: not an https URL as RFC 3986 writes it)";
}

/**
 * Plans one host: when each pinned key leaves the live path, when none is left, and by when the next pin must
 * be merged and in the stores.
 *
 * @example
 * const hostPlan = planHost(input, { now: new Date(), releaseDays: 14, adoptionDays: 90 });
 */
export function planHost(input: PlanHostInput, options: PlanOptions): HostPlan {
  checkOptions(options);
  const now = options.now;
  const horizon = addDays(now, options.horizonDays ?? defaultHorizonDays);
  const base: HostPlan = {
    host: input.host,
    port: input.port,
    domain: input.domain,
    mode: input.mode,
    status: "error",
    reuseKey: input.reuseKey,
    ...(input.reuseKeyFrom !== undefined ? { reuseKeyFrom: input.reuseKeyFrom } : {}),
    path: [],
    pins: input.pins.map((p) => {
      const out: PinPlan = { pin: p.pin };
      if (p.role !== undefined) out.role = p.role;
      if (p.label !== undefined) out.label = p.label;
      return out;
    }),
    findings: [],
  };
  const path = input.path;
  if (!path || path.length === 0) {
    return { ...base, error: input.error ?? "no live path to plan from" };
  }
  const forecast = forecastRenewals(path[0]!, input.ari, now, horizon);
  const changes = predictKeyChanges(input, forecast, horizon);
  base.renewal = { at: forecast.at, source: forecast.source, lifetimeDays: forecast.lifetimeDays };
  if (input.ariCertId !== undefined) base.renewal.ariCertId = input.ariCertId;
  base.path = path.map((cert, i) => {
    const entry: HostPlan["path"][number] = {
      subject: cert.subject,
      pin: cert.pin,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    };
    const at = changes[i]?.at;
    if (at !== undefined) entry.replacedAt = at;
    return entry;
  });

  const matched = new Set<number>();
  for (const pin of base.pins) {
    const position = path.findIndex((cert) => cert.pin === pin.pin);
    if (position === -1) continue;
    matched.add(position);
    const cert = path[position]!;
    pin.position = position;
    pin.subject = cert.subject;
    pin.notAfter = cert.notAfter;
    const change = changes[position]!;
    if (change.at !== undefined && change.reason !== undefined) {
      pin.changesAt = change.at;
      pin.reason = change.reason;
      pin.removableAfter = startOfDay(addDays(change.at, 1));
    }
  }
  const hasBackup = base.pins.some((p) => p.position === undefined);
  const findings: PlanFinding[] = [];
  if (input.ari) {
    const early = input.ari.start.getTime() < forecast.usual.getTime();
    findings.push({
      code: "ari-window",
      severity: early ? "warning" : "info",
      date: input.ari.start,
      message: `${input.host}: the CA's renewal window (ARI) is ${formatDay(input.ari.start)} to ${formatDay(input.ari.end)}${early ? `, before the usual renewal on ${formatDay(forecast.usual)}` : ""}${explanationOf(input.ari.explanationURL)}`,
    });
  }
  const leafPins = base.pins.filter((p) => p.role === "leaf");
  if (input.reuseKey && leafPins.length > 0 && !base.pins.some((p) => p.pin === path[0]!.pin)) {
    // Renewals were to keep the pinned leaf key, and the live leaf has a key no pin names: one did not.
    findings.push({
      code: "reuse-key-broken",
      severity: matched.size === 0 ? "error" : "warning",
      pin: path[0]!.pin,
      message: `${input.host}: renewals are said to keep the leaf key (${reuseKeyWord(input)}), but the live leaf's key ${path[0]!.pin} is not the pinned leaf key ${leafPins.map((p) => p.pin).join(", ")}: a renewal made a new key. Fix the ACME client (certbot --reuse-key, lego --reuse-key, cert-manager rotationPolicy: Never) and put the pinned key back (or move to the backup key), or stop saying reuseKey`,
    });
  }
  if (matched.size === 0) {
    findings.push({
      code: "no-pin-in-path",
      severity: "error",
      message: `${input.host}: ${base.pins.length === 1 ? "the one pin" : `none of the ${base.pins.length} pins`} of ${input.domain} ${base.pins.length === 1 ? "is not" : "is"} in the live path today (it carries ${path.map((c) => c.pin).join(", ")}): devices with this policy refuse the host now`,
    });
    return { ...base, status: "mismatch", findings };
  }

  for (const pin of base.pins) {
    // A rotating intermediate and a cross-signed root get caFamilyFindings' fuller words.
    if (pin.changesAt === undefined || pin.reason === "family-rotation" || pin.reason === "cross-sign-expiry")
      continue;
    const leaf = pin.position === 0;
    findings.push({
      code: leaf ? "leaf-key-changes" : "issuer-end-of-life",
      severity: "warning",
      pin: pin.pin,
      date: pin.changesAt,
      message: `${input.host}: the pinned key of the ${leaf ? "leaf" : `CA certificate ${pin.subject}`} is expected to leave the path on ${formatDay(pin.changesAt)}: ${reasonText(pin)}${leaf ? ` (if your renewals keep the key, record it in the policy: "renewal": { "reuseKey": true } under ${input.domain})` : ""}`,
    });
  }
  if (input.reuseKey && matched.has(0)) {
    // The pinned leaf key outlasts renewals only because they keep it: say on whose word, so a changed ACME
    // setting is caught where it is made.
    findings.push({
      code: "reuse-key",
      severity: "info",
      pin: path[0]!.pin,
      date: forecast.at,
      message: `${input.host}: the pinned leaf key is taken to survive the renewal on ${formatDay(forecast.at)} because renewals keep it (${reuseKeyWord(input)}); keep the ACME client's setting (certbot --reuse-key, lego --reuse-key, cert-manager rotationPolicy: Never), or the first renewal with a new key matches no leaf pin`,
    });
  }
  findings.push(...caFamilyFindings(input, matched, hasBackup, forecast));

  let breaksAt: Date | undefined;
  for (const i of matched) {
    const at = changes[i]?.at;
    if (at === undefined) {
      breaksAt = undefined;
      break;
    }
    if (breaksAt === undefined || at.getTime() > breaksAt.getTime()) breaksAt = at;
  }
  const deadlines = hostDeadlines(input.host, breaksAt, hasBackup, forecast, options);
  const changesAtRenewal = [...matched].some((i) => {
    const reason = changes[i]?.reason;
    return reason === "leaf-renewal" || reason === "ari-renewal" || reason === "family-rotation";
  });
  findings.push(...deadlines.findings);
  // A pin that changes at each renewal matters only when no other pinned key outlasts it.
  findings.push(
    ...scheduleFindings(input.host, forecast, changesAtRenewal && breaksAt !== undefined, options, horizon),
  );
  const out: HostPlan = { ...base, status: deadlines.status, findings };
  if (breaksAt !== undefined) out.breaksAt = breaksAt;
  if (deadlines.successor !== undefined) out.successor = deadlines.successor;
  if (deadlines.shipBy !== undefined) out.shipBy = deadlines.shipBy;
  if (deadlines.mergeBy !== undefined) out.mergeBy = deadlines.mergeBy;
  return out;
}

/**
 * Plans every host. `ok` is false when an enforced host is `late` or `mismatch`, or a host is `error`: what
 * `keypin plan --check` exits 1 on.
 *
 * @example
 * const plan = planPins(hosts, { now: new Date(), releaseDays: 14, adoptionDays: 90 });
 * for (const host of plan.hosts) console.log(host.host, host.status, host.mergeBy);
 */
export function planPins(hosts: readonly PlanHostInput[], options: PlanOptions): Plan {
  checkOptions(options);
  const planned = hosts.map((host) => planHost(host, options));
  const failed = planned.some(
    (h) => h.status === "error" || (h.mode === "enforce" && (h.status === "late" || h.status === "mismatch")),
  );
  return {
    now: options.now,
    releaseDays: options.releaseDays,
    adoptionDays: options.adoptionDays,
    horizon: addDays(options.now, options.horizonDays ?? defaultHorizonDays),
    ok: !failed,
    hosts: planned,
  };
}
