// Expiry dates: the platforms name the first unpinned day, keypin the last pinned day.

/** Whether `date` is a real `yyyy-MM-dd` calendar date. */
export function isCalendarDate(date: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return false;
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/**
 * keypin's `expires` (last pinned day) for a platform expiration date (the first day pins no longer hold):
 * the day before, in UTC calendar arithmetic. Undefined when `date` is not a `yyyy-MM-dd` date.
 */
export function lastPinnedDay(firstUnpinnedDay: string): string | undefined {
  if (!isCalendarDate(firstUnpinnedDay)) return undefined;
  const [y, m, d] = firstUnpinnedDay.split("-").map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d - 1));
  return t.toISOString().slice(0, 10);
}
