import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  lifetimeDaysOf,
  maxLifetimeDays,
  nextLifetimeDays,
  projectRenewals,
  renewalDate,
} from "./schedule.js";

const day = (text: string) => new Date(`${text}T00:00:00Z`);

describe("the SC-081 lifetime schedule", () => {
  it("allows 398 days before 2026-03-15, then 200, 100 and 47 days from each step's first day", () => {
    assert.equal(maxLifetimeDays(new Date("2026-03-14T23:59:59Z")), 398);
    assert.equal(maxLifetimeDays(day("2026-03-15")), 200);
    assert.equal(maxLifetimeDays(new Date("2027-03-14T23:59:59Z")), 200);
    assert.equal(maxLifetimeDays(day("2027-03-15")), 100);
    assert.equal(maxLifetimeDays(new Date("2029-03-14T23:59:59Z")), 100);
    assert.equal(maxLifetimeDays(day("2029-03-15")), 47);
    assert.equal(maxLifetimeDays(day("2035-01-01")), 47);
  });

  it("keeps a CA's shorter lifetime and shortens a longer one to what the schedule allows", () => {
    assert.equal(nextLifetimeDays(90, day("2026-06-01")), 90);
    assert.equal(nextLifetimeDays(395, day("2026-06-01")), 200);
    assert.equal(nextLifetimeDays(90, day("2029-04-01")), 47);
  });

  it("renews two thirds into the lifetime, and now when that day has passed", () => {
    const cert = { notBefore: day("2026-05-01"), notAfter: day("2026-07-30") };
    assert.equal(lifetimeDaysOf(cert), 90);
    assert.equal(renewalDate(cert, day("2026-05-10")).toISOString(), "2026-06-30T00:00:00.000Z");
    assert.equal(renewalDate(cert, day("2026-07-10")).toISOString(), "2026-07-10T00:00:00.000Z");
  });

  it("projects renewals that come faster at each step of the schedule", () => {
    const renewals = projectRenewals(day("2027-01-01"), 200, day("2029-12-31"));
    const lifetimes = renewals.map((r) => r.lifetimeDays);
    // 200-day certificates until the renewal after 2027-03-15, then 100, then 47 after 2029-03-15.
    assert.equal(lifetimes[0], 200);
    assert.equal(lifetimes[1], 100);
    assert.ok(lifetimes.includes(47));
    for (let i = 1; i < renewals.length; i++) {
      const gap = (renewals[i]!.at.getTime() - renewals[i - 1]!.at.getTime()) / 86_400_000;
      assert.equal(gap, Math.round((renewals[i - 1]!.lifetimeDays * 2) / 3));
    }
    assert.ok(renewals.every((r) => r.lifetimeDays <= maxLifetimeDays(r.at)));
  });
});
