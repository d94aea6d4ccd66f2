import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { parsePolicy } from "./policy/validate.js";
import type { ChainEntry, Pin, PinVerdict } from "./types.js";
import { evaluateChain } from "./verdict.js";

const pin = (name: string): Pin => `sha256/${createHash("sha256").update(name).digest("base64")}`;
const LEAF = pin("leaf");
const INTERMEDIATE = pin("intermediate");
const ROOT = pin("root");
const BACKUP = pin("backup");
const chain: ChainEntry[] = [
  { subject: "CN=api.myapp.com", pin: LEAF },
  { subject: "CN=Issuing CA", pin: INTERMEDIATE },
  { subject: "CN=Root CA", pin: ROOT },
];
const now = new Date("2026-11-25T12:00:00Z");

const { policy } = parsePolicy({
  domains: {
    "myapp.com": { includeSubdomains: true, pins: [INTERMEDIATE, { pin: BACKUP, role: "backup" }] },
    "api.myapp.com": { pins: [LEAF, { pin: BACKUP, role: "backup" }], expires: "2026-11-25" },
    "beta.myapp.com": { pins: [BACKUP], mode: "report-only" },
    "old.myapp.com": { includeSubdomains: true, pins: [INTERMEDIATE], expires: "2026-11-24" },
  },
});

/** Exhaustive switch: compile-time proof every verdict is handled. */
function describeVerdict(v: PinVerdict): string {
  switch (v.verdict) {
    case "pinned":
      return `pinned at ${v.matched.position}`;
    case "mismatch":
      return `mismatch ${v.enforced ? "enforced" : "reported"}`;
    case "not-pinned":
      return `not pinned: ${v.reason}`;
    default: {
      const never: never = v;
      return never;
    }
  }
}

describe("evaluateChain", () => {
  it("reports the first pinned position from the leaf, its subject and pin, and all chain pins", () => {
    const v = evaluateChain({ policy, host: "API.myapp.com.", chain, now });
    assert.deepEqual(v, {
      verdict: "pinned",
      host: "api.myapp.com",
      domain: "api.myapp.com",
      matched: { position: 0, subject: "CN=api.myapp.com", pin: LEAF },
      chainPins: chain,
    });
  });

  it("matches an intermediate through a parent with includeSubdomains", () => {
    const v = evaluateChain({ policy, host: "cdn.eu.myapp.com", chain, now });
    assert.equal(describeVerdict(v), "pinned at 1");
    assert.equal(v.verdict === "pinned" && v.domain, "myapp.com");
  });

  it("returns an enforced mismatch with the chain's pins and subjects and the expected pins", () => {
    const forged: ChainEntry[] = [
      { subject: "CN=api.myapp.com", pin: pin("forged leaf") },
      { subject: "CN=mitmproxy", pin: pin("mitm ca") },
    ];
    const v = evaluateChain({ policy, host: "www.myapp.com", chain: forged, now });
    assert.deepEqual(v, {
      verdict: "mismatch",
      host: "www.myapp.com",
      domain: "myapp.com",
      enforced: true,
      chainPins: forged,
      expectedPins: [INTERMEDIATE, BACKUP],
    });
  });

  it("marks a mismatch on a report-only domain as not enforced", () => {
    assert.equal(
      describeVerdict(evaluateChain({ policy, host: "beta.myapp.com", chain, now })),
      "mismatch reported",
    );
  });

  it("keeps pins through the end of the expires UTC day, then reports not-pinned: expired", () => {
    assert.equal(
      describeVerdict(
        evaluateChain({ policy, host: "api.myapp.com", chain, now: new Date("2026-11-25T23:59:59.999Z") }),
      ),
      "pinned at 0",
    );
    assert.deepEqual(
      evaluateChain({ policy, host: "api.myapp.com", chain, now: new Date("2026-11-26T00:00:00Z") }),
      {
        verdict: "not-pinned",
        host: "api.myapp.com",
        reason: "expired",
        domain: "api.myapp.com",
      },
    );
  });

  it("does not fall back to an enforced parent when the most specific entry has expired", () => {
    const v = evaluateChain({
      policy,
      host: "x.old.myapp.com",
      chain: [{ subject: "CN=x", pin: pin("other") }],
      now,
    });
    assert.equal(describeVerdict(v), "not pinned: expired");
  });

  it("returns not-pinned: no-policy for a host without an entry", () => {
    assert.deepEqual(evaluateChain({ policy, host: "example.org", chain, now }), {
      verdict: "not-pinned",
      host: "example.org",
      reason: "no-policy",
    });
  });

  it("returns a mismatch for an empty chain on a pinned host", () => {
    assert.equal(
      describeVerdict(evaluateChain({ policy, host: "myapp.com", chain: [], now })),
      "mismatch enforced",
    );
  });
});

describe("evaluateChain's pin comparison", () => {
  it("treats a pin with stray bits in its last base64 character as the canonical pin it stands for", () => {
    // "…A=" and "…B=" decode to the same 32 bytes: the last character's two low bits are padding.
    const canonical = `sha256/${"A".repeat(42)}A=` as const;
    const stray = `sha256/${"A".repeat(42)}B=`;
    const policy = parsePolicy({
      domains: { "a.example.test": { pins: [canonical, `sha256/${"B".repeat(42)}A=`] } },
    }).policy;
    const verdict = evaluateChain({
      policy,
      host: "a.example.test",
      chain: [{ subject: "CN=a", pin: stray as never }],
    });
    assert.equal(verdict.verdict, "pinned");
  });
});
