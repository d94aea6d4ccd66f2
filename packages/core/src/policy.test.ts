import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { PolicyError } from "./errors.js";
import { lintPolicy, parsePolicy, validatePolicy } from "./policy.js";

const A = `sha256/${createHash("sha256").update("key A").digest("base64")}`;
const B = `sha256/${createHash("sha256").update("key B").digest("base64")}`;
const now = new Date("2026-06-01T12:00:00Z");

function problemsOf(value: unknown) {
  const r = validatePolicy(value, { now });
  assert.equal(r.ok, false, "expected the policy to be rejected");
  return r.ok ? [] : r.problems;
}

describe("validatePolicy", () => {
  it("normalizes a valid policy: canonical domain, pins as sha256/, defaults filled in", () => {
    const { policy } = parsePolicy(
      {
        $schema: "./node_modules/@keypin/core/keypin.schema.json",
        domains: {
          "API.MyApp.com.": {
            includeSubdomains: true,
            pins: [A.slice(7), { pin: `pin-sha256="${B.slice(7)}"`, role: "backup", label: "offline" }],
            expires: "2027-06-30",
            reportUris: ["https://pins.myapp.com/report"],
          },
        },
      },
      { now },
    );
    assert.deepEqual(policy.domains[0], {
      domain: "api.myapp.com",
      key: "API.MyApp.com.",
      includeSubdomains: true,
      pins: [{ pin: A }, { pin: B, role: "backup", label: "offline" }],
      expires: "2027-06-30",
      mode: "enforce",
      reportUris: ["https://pins.myapp.com/report"],
    });
  });

  it("reports every problem with its JSON Pointer, including unknown fields such as includeSubdomain", () => {
    const problems = problemsOf({
      domains: {
        "a.com": {
          includeSubdomain: true,
          pins: [A, "sha1/AAAA", { pin: B, role: "spare" }],
          expires: "2027-02-30",
        },
        "*.b.com": { pins: [A, B], mode: "audit" },
      },
      extra: 1,
    });
    assert.deepEqual(
      problems.map((p) => p.path),
      [
        "/extra",
        "/domains/a.com/includeSubdomain",
        "/domains/a.com/pins/1",
        "/domains/a.com/pins/2/role",
        "/domains/a.com/expires",
        "/domains/*.b.com",
        "/domains/*.b.com/mode",
      ],
    );
    assert.match(problems[1]!.message, /did you mean "includeSubdomains"/);
    assert.match(problems[5]!.message, /wildcard.*includeSubdomains/);
  });

  it("refuses a non-ASCII domain key and asks for its xn-- form", () => {
    const [p] = problemsOf({ domains: { "bücher.example": { pins: [A, B] } } });
    assert.equal(p?.path, "/domains/bücher.example");
    assert.match(p!.message, /xn-- \(punycode\) form, "xn--bcher-kva\.example"/);
  });

  it("refuses an xn-- label that decodes to no name a URL can hold, and says which label and why", () => {
    const urlRefuses = (host: string): boolean => {
      try {
        new URL(`https://${host}/`);
        return false;
      } catch {
        return true;
      }
    };
    for (const [key, why] of [
      ["xn--a.example", /its label "xn--a" decodes to U\+0080, a control character/],
      ["api.xn--zz.example", /its label "xn--zz" is not valid Punycode/],
      ["XN--99999999999.example", /its label "XN--99999999999" is not valid Punycode/], // past U+10FFFF
    ] as const) {
      assert.ok(urlRefuses(key), `the oracle, Node's URL parser, refuses ${key}`);
      const problems = problemsOf({ domains: { [key]: { pins: [A, B] } } });
      assert.equal(problems.length, 1, key);
      assert.equal(problems[0]!.path, `/domains/${key}`);
      assert.match(problems[0]!.message, why);
    }
    for (const key of ["xn--bcher-kva.example", "XN--BCHER-KVA.example", "xn--ls8h.la", "api.xn--n3h.com"]) {
      assert.ok(!urlRefuses(key), key);
      assert.equal(validatePolicy({ domains: { [key]: { pins: [A, B] } } }, { now }).ok, true, key);
    }
  });

  it("refuses an xn-- label only when Node's URL parser refuses it too (random labels)", () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/).map((l) => `xn--${l}`);
    let refused = 0;
    fc.assert(
      fc.property(label, (l) => {
        const host = `${l}.example`;
        if (validatePolicy({ domains: { [host]: { pins: [A, B] } } }).ok) return;
        refused++;
        assert.throws(() => new URL(`https://${host}/`), `keypin refuses ${host}; so must the URL parser`);
      }),
      { numRuns: 2000 },
    );
    assert.ok(refused > 100, `only ${refused} of 2,000 random xn-- labels were refused`);
  });

  it("accepts IPv4 and IPv6 addresses as domain keys", () => {
    const { policy } = parsePolicy({
      domains: { "127.0.0.1": { pins: [A] }, "[2001:DB8::1]": { pins: [A] } },
    });
    assert.deepEqual(
      policy.domains.map((d) => d.domain),
      ["127.0.0.1", "2001:db8::1"],
    );
  });

  it("throws a PolicyError listing the problems from parsePolicy", () => {
    assert.throws(
      () => parsePolicy({ domains: {} }),
      (e: unknown) =>
        e instanceof PolicyError && e.code === "ERR_KEYPIN_POLICY" && e.problems[0]?.path === "/domains",
    );
  });
});

describe("lintPolicy", () => {
  it("warns about too few pins, a missing backup pin and an expired entry", () => {
    const { policy } = parsePolicy({ domains: { "a.com": { pins: [A], expires: "2026-05-31" } } }, { now });
    assert.deepEqual(
      lintPolicy(policy, { now }).map((f) => [f.code, f.path]),
      [
        ["expired", "/domains/a.com/expires"],
        ["too-few-pins", "/domains/a.com/pins"],
        ["no-backup-pin", "/domains/a.com/pins"],
      ],
    );
  });

  it("keeps pins valid through the end of the expires UTC day", () => {
    const { policy } = parsePolicy({
      domains: { "a.com": { pins: [A, { pin: B, role: "backup" }], expires: "2026-06-01" } },
    });
    assert.deepEqual(lintPolicy(policy, { now: new Date("2026-06-01T23:59:59.999Z") }), []);
    assert.deepEqual(
      lintPolicy(policy, { now: new Date("2026-06-02T00:00:00Z") }).map((f) => f.code),
      ["expired"],
    );
  });

  it("flags duplicate domains spelled differently and a weaker subdomain under an enforced parent", () => {
    const pins = [A, { pin: B, role: "backup" }];
    const { warnings } = parsePolicy(
      {
        domains: {
          "myapp.com": { pins, includeSubdomains: true },
          "MyApp.com.": { pins },
          "x.y.myapp.com": { pins, mode: "report-only" },
        },
      },
      { now },
    );
    assert.deepEqual(
      warnings.map((f) => [f.code, f.path]),
      [
        ["duplicate-domain", "/domains/MyApp.com."],
        ["weaker-subdomain", "/domains/x.y.myapp.com"],
      ],
    );
  });
});
