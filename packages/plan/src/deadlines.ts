// From the dates keys change to the dates people must act: ship the next pin, merge it, drop the old one.
import { revocationDeadlineDays } from "./ari.js";
import { addDays, formatDay, startOfDay } from "./dates.js";
import type { RenewalForecast } from "./risk.js";
import { lifetimeSchedule } from "./schedule.js";
import type { HostPlan, HostStatus, PlanFinding, PlanOptions } from "./types.js";

/** The release facts a deadline is computed from. */
export type ReleaseFacts = Pick<PlanOptions, "releaseDays" | "adoptionDays">;

/**
 * The two dates before a key change on `changeAt`: the release carrying the next pin must be in the stores by
 * `shipBy` (so that the versions without it have aged out, `adoptionDays` later), which means merging it by
 * `mergeBy` (`releaseDays` earlier).
 *
 * @example
 * releaseDeadlines(new Date("2027-01-01"), { releaseDays: 14, adoptionDays: 90 });
 * // { shipBy: 2026-10-03, mergeBy: 2026-09-19 }
 */
export function releaseDeadlines(changeAt: Date, facts: ReleaseFacts): { shipBy: Date; mergeBy: Date } {
  const shipBy = startOfDay(addDays(changeAt, -facts.adoptionDays));
  return { shipBy, mergeBy: addDays(shipBy, -facts.releaseDays) };
}

/**
 * Whether a deadline falls inside the release lead time: a release merged today (`now`) reaches the stores
 * `releaseDays` later, after `shipBy`.
 *
 * @example
 * isLate(new Date("2026-09-10"), new Date("2026-09-01"), 14); // true: a release merged on 09-01 ships 09-15
 */
export function isLate(shipBy: Date, now: Date, releaseDays: number): boolean {
  return shipBy.getTime() < startOfDay(addDays(now, releaseDays)).getTime();
}

/**
 * The host's status and deadlines once its key changes are known: when no pinned key is left (`breaksAt`),
 * what carries it past that day (a backup pin, or a new pin), and by when that must be released.
 *
 * @example
 * const { status, shipBy, mergeBy, findings } = hostDeadlines(breaksAt, hasBackup, forecast, options);
 */
export function hostDeadlines(
  host: string,
  breaksAt: Date | undefined,
  hasBackup: boolean,
  forecast: RenewalForecast,
  options: PlanOptions,
): Pick<HostPlan, "status" | "successor" | "shipBy" | "mergeBy"> & { findings: PlanFinding[] } {
  const findings: PlanFinding[] = [];
  if (breaksAt === undefined) return { status: "stable", findings };
  let successor: HostPlan["successor"] = "new-pin";
  // With a backup pin, the host survives `breaksAt` by renewing onto the backup key; the next deadline is
  // the new backup's, before the key changes again at the renewal after that one.
  let deadlineBase: Date | undefined = breaksAt;
  if (hasBackup) {
    successor = "backup";
    deadlineBase = forecast.renewals.find((r) => r.at.getTime() > breaksAt.getTime())?.at;
    findings.push({
      code: "use-backup",
      severity: "info",
      date: breaksAt,
      message: `${host}: no pinned key of today's path is left after ${formatDay(breaksAt)}: renew onto the backup key then (only where you choose the key: not with a CDN-managed certificate), and put a new backup pin in the policy${deadlineBase ? ` before the key changes again on ${formatDay(deadlineBase)}` : ""}`,
    });
  } else {
    findings.push({
      code: "ari-exposure",
      severity: "warning",
      message: `${host}: the CA can bring a renewal forward to any day (ARI, RFC 9773; a revocation leaves ${revocationDeadlineDays.keyCompromise} to ${revocationDeadlineDays.other} days, TLS BR §4.9.1.1): only a pin already in every app in use, such as a backup key you hold, covers that`,
    });
  }
  if (deadlineBase === undefined) return { status: "planned", successor, findings };
  const { shipBy, mergeBy } = releaseDeadlines(deadlineBase, options);
  let status: HostStatus = "planned";
  if (isLate(shipBy, options.now, options.releaseDays)) {
    status = "late";
    const arrives = startOfDay(addDays(options.now, options.releaseDays));
    findings.push({
      code: "deadline-passed",
      severity: "error",
      date: shipBy,
      message: `${host}: the next pin had to be in the stores by ${formatDay(shipBy)} (${options.adoptionDays} adoption days before the key change on ${formatDay(deadlineBase)}); a release merged today arrives ${formatDay(arrives)}. Ship it now, and keep the current key until ${formatDay(addDays(arrives, options.adoptionDays))} (renew with --reuse-key, or ask the provider to keep it)`,
    });
  }
  return { status, successor, shipBy, mergeBy, findings };
}

/**
 * What the SC-081 steps within the horizon mean for this host: how often its leaf will then renew, and whether
 * a pin on a key that changes at each renewal can still be released in time.
 *
 * @example
 * scheduleFindings("api.myapp.com", forecast, keyChangesAtRenewal, options, horizon);
 */
export function scheduleFindings(
  host: string,
  forecast: RenewalForecast,
  pinChangesAtRenewal: boolean,
  options: PlanOptions,
  horizon: Date,
): PlanFinding[] {
  const out: PlanFinding[] = [];
  const notice = options.releaseDays + options.adoptionDays;
  for (const step of lifetimeSchedule) {
    const from = new Date(`${step.from}T00:00:00Z`);
    if (from.getTime() > horizon.getTime()) continue;
    const renewal = forecast.renewals.find((r) => r.at.getTime() >= from.getTime());
    if (!renewal || renewal.lifetimeDays !== Math.min(step.maxDays, forecast.lifetimeDays)) continue;
    if (from.getTime() < options.now.getTime() && renewal !== forecast.renewals[0]) continue;
    const every = Math.round((renewal.lifetimeDays * 2) / 3);
    const tight = pinChangesAtRenewal && every < notice;
    out.push({
      code: "lifetime-schedule",
      severity: tight ? "warning" : "info",
      date: from,
      message: tight
        ? `${host}: certificates issued from ${step.from} live at most ${step.maxDays} days (SC-081), so this leaf renews about every ${every} days; a pinned key that changes at each renewal needs ${notice} days' notice (${options.releaseDays} release + ${options.adoptionDays} adoption). Renew with the same key (certbot --reuse-key) and record it in the policy ("renewal": { "reuseKey": true }), or pin a backup key or the CA's roots`
        : `${host}: certificates issued from ${step.from} live at most ${step.maxDays} days (SC-081): this leaf renews about every ${every} days from ${formatDay(renewal.at)}${pinChangesAtRenewal ? "" : "; no pinned key here changes with it"}`,
    });
  }
  return out;
}
