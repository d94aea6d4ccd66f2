// Name constraints are matched through an index (path-rules.ts): the same verdicts as OpenSSL's nc_dns applied pair
// by pair, one unit of work per name whatever the number of constraints, and OpenSSL's 2^20 guard.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { CertificateInfo } from "./certificate.js";
import type { NameSubtree } from "./extensions.js";
import { type NameCheckBudget, nameConstraintsViolation } from "./path-rules.js";

/** Just what the rule reads from a certificate. */
function cert(
  subject: string,
  dns: string[],
  nameConstraints?: { permitted: NameSubtree[]; excluded: NameSubtree[] },
): CertificateInfo {
  return {
    subjectAltNames: { dns, ip: [] },
    constraints: { ipAddressBytes: [], nameConstraints },
    names: {
      subject: JSON.stringify([[`2.5.4.3=${subject}`]]),
      issuer: JSON.stringify([["2.5.4.3=issuer"]]),
    },
  } as unknown as CertificateInfo;
}

/** OpenSSL's nc_dns, one pair at a time (x509/v3_ncons.c), with ASCII case folding as its ia5ncasecmp. */
function within(name: string, base: string): boolean {
  const lower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (base.length === 0) return true;
  if (name.length < base.length) return false;
  if (name.length > base.length && !base.startsWith(".") && name[name.length - base.length - 1] !== ".")
    return false;
  return lower(name.slice(name.length - base.length)) === lower(base);
}

function reference(names: string[], permitted: string[], excluded: string[]): string | undefined {
  for (const name of names) {
    if (permitted.length > 0 && !permitted.some((b) => within(name, b)))
      return `do not permit ${JSON.stringify(name)}`;
    if (excluded.some((b) => within(name, b))) return `exclude ${JSON.stringify(name)}`;
  }
  return undefined;
}

const dns = (bases: string[]): NameSubtree[] => bases.map((base) => ({ kind: "dns", base }));

describe("name constraints through an index", () => {
  it("gives the verdict OpenSSL's pairwise rule gives, for random names and bases", () => {
    const label = fc.constantFrom("a", "B", "ab", "x", "api", "Api", "test", "xn--p1ai", "");
    const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
    const base = fc.tuple(fc.boolean(), name).map(([dot, n]) => (dot ? `.${n}` : n));
    fc.assert(
      fc.property(
        fc.array(name, { minLength: 1, maxLength: 5 }),
        fc.array(base, { maxLength: 4 }),
        fc.array(base, { maxLength: 4 }),
        (names, permitted, excluded) => {
          const issuer = cert("issuer", [], { permitted: dns(permitted), excluded: dns(excluded) });
          const got = nameConstraintsViolation([cert("leaf", names)], issuer);
          const want = reference(names, permitted, excluded);
          assert.equal(
            got?.detail,
            want === undefined ? undefined : `has name constraints that ${want} (certificate 0 of the path)`,
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("spends one unit per name, however many constraints it is checked against", () => {
    const names = Array.from({ length: 5000 }, (_, i) => `a${i}.t`);
    const excluded = dns(Array.from({ length: 200 }, (_, i) => `.x${i}`));
    const budget: NameCheckBudget = { left: 100_000 };
    const issuer = cert("issuer", [], { permitted: [], excluded });
    assert.equal(nameConstraintsViolation([cert("leaf", names)], issuer, budget), undefined);
    assert.equal(100_000 - budget.left, 5000);
  });

  it("stops when the budget is spent and says so through the budget, not a verdict", () => {
    const budget: NameCheckBudget = { left: 10 };
    const issuer = cert("issuer", [], { permitted: [], excluded: dns([".x"]) });
    const names = Array.from({ length: 50 }, (_, i) => `a${i}.t`).concat("bad.x");
    assert.equal(nameConstraintsViolation([cert("leaf", names)], issuer, budget), undefined);
    assert.ok(budget.left < 0);
    // With room, the excluded name is found.
    assert.match(nameConstraintsViolation([cert("leaf", names)], issuer)?.detail ?? "", /exclude "bad\.x"/);
  });

  it("refuses, as OpenSSL does, a certificate whose names times the constraints exceed 2^20", () => {
    const names = Array.from({ length: 4000 }, (_, i) => `a${i}.t`);
    const excluded = dns(Array.from({ length: 300 }, (_, i) => `.x${i}`));
    const violation = nameConstraintsViolation(
      [cert("leaf", names)],
      cert("issuer", [], { permitted: [], excluded }),
    );
    assert.equal(violation?.reason, "name-constraints");
    assert.match(violation?.detail ?? "", /2\^20/);
    // Just under the guard: checked, and nothing excluded.
    const fewer = names.slice(0, 3000);
    assert.equal(
      nameConstraintsViolation([cert("leaf", fewer)], cert("issuer", [], { permitted: [], excluded })),
      undefined,
    );
  });
});
