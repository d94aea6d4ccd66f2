// Day arithmetic in UTC: the planner's dates are calendar days, so a deadline never moves with the time zone.

/** Milliseconds in a day. */
export const dayMs = 86_400_000;

/**
 * `date` moved by `days` (negative to go back), to the millisecond.
 *
 * @example
 * addDays(new Date("2026-03-15T00:00:00Z"), 200).toISOString(); // "2026-10-01T00:00:00.000Z"
 */
export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * dayMs);
}

/**
 * The start (00:00 UTC) of the day `date` falls on.
 *
 * @example
 * startOfDay(new Date("2026-03-15T17:30:00Z")).toISOString(); // "2026-03-15T00:00:00.000Z"
 */
export function startOfDay(date: Date): Date {
  return new Date(Math.floor(date.getTime() / dayMs) * dayMs);
}

/**
 * The UTC calendar day of `date` as `yyyy-mm-dd`.
 *
 * @example
 * formatDay(new Date("2026-03-15T17:30:00Z")); // "2026-03-15"
 */
export function formatDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * Whole days from `from` to `to` (negative when `to` is earlier), rounded down.
 *
 * @example
 * daysBetween(new Date("2026-03-15"), new Date("2026-04-14")); // 30
 */
export function daysBetween(from: Date, to: Date): number {
  return Math.floor((to.getTime() - from.getTime()) / dayMs);
}

/**
 * The earlier of two dates (`undefined` counts as "never").
 *
 * @example
 * earliest(new Date("2027-01-01"), undefined); // 2027-01-01
 */
export function earliest(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.getTime() <= b.getTime() ? a : b;
}
