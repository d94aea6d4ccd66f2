// A domain entry's "expires" date: the end of that UTC day.
import type { DomainPolicy } from "../types.js";

/** yyyy-MM-dd → the first millisecond after that UTC day. */
export function endOfDay(expires: string): number {
  const [y, m, d] = expires.split("-").map(Number) as [number, number, number];
  return Date.UTC(y, m - 1, d + 1);
}

/** Whether the entry's "expires" day has ended at `now`: the domain is no longer pinned. */
export function isExpired(d: DomainPolicy, now: Date): boolean {
  return d.expires !== undefined && now.getTime() >= endOfDay(d.expires);
}
