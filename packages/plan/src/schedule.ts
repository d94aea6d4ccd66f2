// How long certificates live and when they are renewed: the CA/Browser Forum's SC-081 schedule and the
// ACME clients' "renew when a third of the lifetime remains".
import { addDays, dayMs } from "./dates.js";

/** One step of the maximum-lifetime schedule: certificates issued on or after `from` live at most `maxDays`. */
export interface LifetimeStep {
  /** The first day of the step, `yyyy-mm-dd` (UTC). */
  from: string;
  /** The maximum validity of a TLS server certificate issued from that day on, in days. */
  maxDays: number;
}

/** The maximum lifetime (days) of certificates issued before the first SC-081 step (TLS BR §6.3.2 until 2026). */
export const lifetimeBeforeSchedule = 398;

/**
 * The maximum validity of TLS server certificates by date of issuance: CA/Browser Forum ballot SC-081v3
 * (TLS Baseline Requirements §6.3.2): 200 days from 2026-03-15, 100 days from 2027-03-15, 47 days from
 * 2029-03-15.
 *
 * @example
 * lifetimeSchedule.map((s) => `${s.from}: ${s.maxDays} days`);
 */
export const lifetimeSchedule: readonly LifetimeStep[] = [
  { from: "2026-03-15", maxDays: 200 },
  { from: "2027-03-15", maxDays: 100 },
  { from: "2029-03-15", maxDays: 47 },
];

/** Where the schedule comes from, for messages and documents. */
export const lifetimeScheduleSource =
  "CA/Browser Forum ballot SC-081v3, TLS Baseline Requirements §6.3.2 (https://cabforum.org/2025/04/11/ballot-sc081v3-introduce-schedule-of-reducing-validity-and-data-reuse-periods/)";

/**
 * The share of a certificate's lifetime after which ACME clients renew it (certbot renews a 90-day certificate
 * 30 days before it expires; Let's Encrypt's renewal windows sit at two thirds of the lifetime).
 */
export const renewalFraction = 2 / 3;

/**
 * The longest a TLS server certificate issued at `issuedAt` may live under the schedule, in days.
 *
 * @example
 * maxLifetimeDays(new Date("2027-06-01")); // 100
 */
export function maxLifetimeDays(issuedAt: Date): number {
  let days = lifetimeBeforeSchedule;
  for (const step of lifetimeSchedule) {
    if (issuedAt.getTime() >= Date.parse(`${step.from}T00:00:00Z`)) days = step.maxDays;
  }
  return days;
}

/**
 * The lifetime (days) of the certificate that replaces one of `currentDays` at `renewedAt`: the CA keeps
 * its lifetime unless the schedule forces a shorter one.
 *
 * @example
 * nextLifetimeDays(90, new Date("2029-04-01")); // 47
 */
export function nextLifetimeDays(currentDays: number, renewedAt: Date): number {
  return Math.min(currentDays, maxLifetimeDays(renewedAt));
}

/**
 * When a certificate valid from `notBefore` to `notAfter` is due for renewal: once two thirds of its
 * lifetime have passed, and never before `now` (an overdue certificate renews now).
 *
 * @example
 * renewalDate({ notBefore: new Date("2026-05-01"), notAfter: new Date("2026-07-30") }, new Date("2026-05-10"));
 * // 2026-06-30: 60 days into a 90-day certificate
 */
export function renewalDate(cert: { notBefore: Date; notAfter: Date }, now: Date): Date {
  const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
  const due = new Date(cert.notBefore.getTime() + Math.round(lifetime * renewalFraction));
  return due.getTime() < now.getTime() ? now : due;
}

/** One projected renewal: the day it happens and how long the certificate issued then lives. */
export interface ProjectedRenewal {
  at: Date;
  lifetimeDays: number;
}

/**
 * The renewals from `first` until `until`: each new certificate lives as long as the last one, or as the
 * schedule allows on the day it is issued, and is renewed at two thirds of that.
 *
 * @example
 * projectRenewals(new Date("2029-03-01"), 90, new Date("2029-06-01")).map((r) => r.lifetimeDays); // [90, 47, 47]
 */
export function projectRenewals(first: Date, currentDays: number, until: Date): ProjectedRenewal[] {
  const out: ProjectedRenewal[] = [];
  let at = first;
  let lifetime = currentDays;
  while (at.getTime() <= until.getTime() && out.length < 1000) {
    lifetime = nextLifetimeDays(lifetime, at);
    out.push({ at, lifetimeDays: lifetime });
    at = addDays(at, Math.max(1, Math.round(lifetime * renewalFraction)));
  }
  return out;
}

/**
 * The lifetime of a certificate in days (rounded up: a certificate valid for 90 days and one second lives 91).
 *
 * @example
 * lifetimeDaysOf({ notBefore: new Date("2026-05-01"), notAfter: new Date("2026-07-30") }); // 90
 */
export function lifetimeDaysOf(cert: { notBefore: Date; notAfter: Date }): number {
  return Math.ceil((cert.notAfter.getTime() - cert.notBefore.getTime()) / dayMs);
}
