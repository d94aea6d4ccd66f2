import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isKeypinError, type Pin } from "@keypin/core";
import { planHost, planPins } from "./plan.js";
import type { PlanCertificate, PlanHostInput } from "./types.js";

const day = (text: string) => new Date(`${text}T00:00:00Z`);
const pin = (n: number) => `sha256/${String(n).padStart(43, "A")}=` as Pin;

function chain(notBefore: string, lifetimeDays: number): PlanCertificate[] {
  const nb = day(notBefore);
  return [
    {
      subject: "CN=api.test",
      issuer: "CN=Issuing, O=Corp",
      pin: pin(1),
      notBefore: nb,
      notAfter: new Date(nb.getTime() + lifetimeDays * 86_400_000),
    },
    {
      subject: "CN=Issuing, O=Corp",
      issuer: "CN=Root, O=Corp",
      pin: pin(2),
      notBefore: day("2024-01-01"),
      notAfter: day("2034-01-01"),
    },
    {
      subject: "CN=Root, O=Corp",
      issuer: "CN=Root, O=Corp",
      pin: pin(3),
      notBefore: day("2020-01-01"),
      notAfter: day("2040-01-01"),
      selfSigned: true,
    },
  ];
}

function host(pins: Pin[], extra: Partial<PlanHostInput> = {}): PlanHostInput {
  return {
    host: "api.test",
    port: 443,
    domain: "api.test",
    mode: "enforce",
    pins: pins.map((p) => ({ pin: p })),
    path: chain("2029-03-20", 47),
    reuseKey: false,
    ...extra,
  };
}

describe("planHost", () => {
  it("says a changing leaf key cannot be released in time once certificates live 47 days", () => {
    const plan = planHost(host([pin(1)]), { now: day("2029-03-25"), releaseDays: 14, adoptionDays: 30 });
    assert.equal(plan.renewal?.at.toISOString().slice(0, 10), "2029-04-20"); // 2029-03-20 + 31 days
    assert.equal(plan.status, "late");
    const schedule = plan.findings.find((f) => f.code === "lifetime-schedule");
    assert.equal(schedule?.severity, "warning");
    assert.match(
      schedule?.message ?? "",
      /renews about every 31 days; a pinned key that changes at each renewal needs 44 days' notice/,
    );
  });

  it("keeps a host with a pinned root stable, and says what the schedule means without alarm", () => {
    const plan = planHost(host([pin(1), pin(3)], { path: chain("2026-12-01", 90) }), {
      now: day("2026-12-10"),
      releaseDays: 14,
      adoptionDays: 90,
    });
    assert.equal(plan.status, "stable");
    assert.equal(plan.breaksAt, undefined);
    const steps = plan.findings.filter((f) => f.code === "lifetime-schedule");
    assert.deepEqual(
      steps.map((f) => f.severity),
      steps.map(() => "info"),
    );
  });

  it("keeps a leaf pin across renewals that reuse the key, and says on whose word", () => {
    // Leaf + backup (ATS leaf identities), 90-day certificates issued 2026-12-01: renewal on 2027-01-30.
    const pins = [pin(1), pin(9)];
    const options = { now: day("2026-12-10"), releaseDays: 14, adoptionDays: 90 };
    const newKey = planHost(host(pins, { path: chain("2026-12-01", 90) }), options);
    assert.equal(newKey.pins[0]!.changesAt?.toISOString().slice(0, 10), "2027-01-30");
    assert.match(
      newKey.findings.find((f) => f.code === "leaf-key-changes")?.message ?? "",
      /record it in the policy: "renewal": \{ "reuseKey": true \} under api\.test/,
    );
    assert.equal(
      newKey.findings.some((f) => f.code === "reuse-key"),
      false,
    );
    for (const from of ["policy", "option"] as const) {
      const kept = planHost(
        host(pins, { path: chain("2026-12-01", 90), reuseKey: true, reuseKeyFrom: from }),
        options,
      );
      assert.equal(kept.reuseKeyFrom, from);
      assert.equal(kept.pins[0]!.changesAt, undefined, "a kept key does not leave the path at the renewal");
      assert.equal(
        kept.findings.some((f) => f.code === "leaf-key-changes"),
        false,
      );
      const said = kept.findings.find((f) => f.code === "reuse-key");
      assert.equal(said?.severity, "info");
      assert.equal(said?.date?.toISOString().slice(0, 10), "2027-01-30");
      assert.match(
        said?.message ?? "",
        from === "policy" ? /keypin\.json: "renewal": \{ "reuseKey": true \}/ : /\(--reuse-key\)/,
      );
    }
  });

  it("says when the live leaf shows that a renewal did not keep the pinned leaf key", () => {
    const options = { now: day("2026-12-10"), releaseDays: 14, adoptionDays: 90 };
    const said = { path: chain("2026-12-01", 90), reuseKey: true, reuseKeyFrom: "policy" as const };
    const roles = (leafPin: Pin, more: { pin: Pin; role: "intermediate" | "backup" }[]) => ({
      pins: [{ pin: leafPin, role: "leaf" as const }, ...more],
    });
    // The pinned leaf key pin(7) is gone from the path (the live leaf is pin(1)); the intermediate still matches.
    const caStillMatches = planHost(
      host([], { ...said, ...roles(pin(7), [{ pin: pin(2), role: "intermediate" }]) }),
      options,
    );
    const warning = caStillMatches.findings.find((f) => f.code === "reuse-key-broken");
    assert.equal(warning?.severity, "warning");
    assert.equal(warning?.pin, pin(1));
    assert.match(warning?.message ?? "", /not the pinned leaf key sha256\/A+7=: a renewal made a new key/);
    assert.match(warning?.message ?? "", /keypin\.json: "renewal": \{ "reuseKey": true \}/);
    // Leaf and backup only (ATS leaf identities): nothing matches, and the finding says why.
    const locked = planHost(
      host([], { ...said, ...roles(pin(7), [{ pin: pin(9), role: "backup" }]) }),
      options,
    );
    assert.equal(locked.status, "mismatch");
    assert.equal(locked.findings.find((f) => f.code === "reuse-key-broken")?.severity, "error");
    // Not broken: the live leaf is the pinned one, or the server moved onto the backup key on purpose, or
    // nobody said renewals keep the key.
    for (const input of [
      host([], { ...said, ...roles(pin(1), [{ pin: pin(9), role: "backup" }]) }),
      host([], { ...said, ...roles(pin(7), [{ pin: pin(1), role: "backup" }]) }),
      host([], { ...roles(pin(7), [{ pin: pin(2), role: "intermediate" }]), path: said.path }),
    ]) {
      assert.equal(
        planHost(input, options).findings.some((f) => f.code === "reuse-key-broken"),
        false,
      );
    }
  });

  it("reports a report-only host that is late without failing the plan", () => {
    const options = { now: day("2029-03-25"), releaseDays: 14, adoptionDays: 30 };
    assert.equal(planPins([host([pin(1)])], options).ok, false);
    const reportOnly = planPins([host([pin(1)], { mode: "report-only" })], options);
    assert.equal(reportOnly.hosts[0]!.status, "late");
    assert.equal(reportOnly.ok, true);
  });

  it("refuses options that are not whole days, with ERR_KEYPIN_OPTIONS", () => {
    for (const bad of [-1, 1.5, Number.NaN, 4000]) {
      assert.throws(
        () => planPins([host([pin(1)])], { now: day("2027-01-01"), releaseDays: bad, adoptionDays: 30 }),
        (e: unknown) => isKeypinError(e) && e.code === "ERR_KEYPIN_OPTIONS" && /releaseDays/.test(e.message),
      );
    }
    assert.throws(
      () => planPins([], { now: new Date("nope"), releaseDays: 1, adoptionDays: 1 }),
      (e: unknown) => isKeypinError(e) && e.code === "ERR_KEYPIN_OPTIONS",
    );
  });
});
