import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { PolicyError } from "./errors.js";
import { normalizeHost } from "./host.js";
import { lintPolicy } from "./policy/lint.js";
import { normalizePolicy } from "./policy/normalize.js";
import { parsePolicy, validatePolicy } from "./policy/validate.js";
import type { Pin } from "./types.js";

const A: Pin = `sha256/${createHash("sha256").update("key A").digest("base64")}`;
const B: Pin = `sha256/${createHash("sha256").update("key B").digest("base64")}`;
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

  it("flags a weaker subdomain under an enforced parent", () => {
    const pins = [A, { pin: B, role: "backup" }];
    const { warnings } = parsePolicy(
      {
        domains: {
          "myapp.com": { pins, includeSubdomains: true },
          "x.y.myapp.com": { pins, mode: "report-only" },
        },
      },
      { now },
    );
    assert.deepEqual(
      warnings.map((f) => [f.code, f.path]),
      [["weaker-subdomain", "/domains/x.y.myapp.com"]],
    );
  });

  it("lints a hand-made policy with two entries for one host as lookup uses it (the first), without a warning code that validation replaced", () => {
    const d = {
      includeSubdomains: false,
      pins: [{ pin: A }, { pin: B, role: "backup" as const }],
      reportUris: [],
    };
    const findings = lintPolicy({
      domains: [
        { ...d, domain: "a.com", mode: "enforce" },
        { ...d, domain: "a.com", mode: "report-only", pins: [{ pin: A }] },
      ],
    });
    assert.deepEqual(findings, []);
  });
});

describe("validatePolicy: two keys for one host", () => {
  const pins = [A, { pin: B, role: "backup" }];
  for (const [first, second] of [
    ["myapp.com", "MyApp.com."],
    ["myapp.com", "myapp.com."],
    ["127.0.0.1", "::ffff:127.0.0.1"],
    ["::1", "[::1]"],
    ["2001:db8::1", "2001:DB8:0:0:0:0:0:1"],
    ["xn--bcher-kva.example", "XN--BCHER-KVA.example"],
  ] as const) {
    it(`refuses "${first}" next to "${second}" with a problem at the second key`, () => {
      const result = validatePolicy({ domains: { [first]: { pins }, [second]: { pins } } }, { now });
      if (normalizeHost(first) !== normalizeHost(second)) {
        // normalizeHost decides what one host is; this pair is only a duplicate where it maps them together.
        assert.equal(result.ok, true);
        return;
      }
      assert.equal(result.ok, false);
      const problems = result.ok ? [] : result.problems;
      assert.deepEqual(
        problems.map((p) => p.path),
        [`/domains/${second}`],
      );
      assert.match(
        problems[0]!.message,
        new RegExp(`is the same host as "${first.replace(/[.[\]]/g, "\\$&")}"`),
      );
      assert.match(problems[0]!.message, /Merge the two entries/);
    });
  }

  it("agrees with Node's URL parser: keys it maps to one host name are refused together", () => {
    const spellings = ["api.example", "API.example", "api.example.", "Api.Example."];
    for (const s of spellings.slice(1)) {
      assert.equal(new URL(`https://${s}/`).hostname.replace(/\.$/, ""), "api.example");
      assert.equal(validatePolicy({ domains: { "api.example": { pins }, [s]: { pins } } }).ok, false, s);
    }
  });
});

describe("normalizePolicy: a policy object is validated like keypin.json", () => {
  const entry = {
    domain: "api.myapp.com",
    includeSubdomains: false,
    pins: [{ pin: A }, { pin: B }],
    reportUris: [],
  };
  const refused = (value: unknown): PolicyError => {
    try {
      normalizePolicy(value);
    } catch (e) {
      assert.ok(e instanceof PolicyError && e.code === "ERR_KEYPIN_POLICY", String(e));
      return e;
    }
    assert.fail("expected a PolicyError");
  };

  it("accepts parsePolicy's output and returns a copy that later changes to the original do not reach", () => {
    const { policy: parsed } = parsePolicy({ domains: { "api.myapp.com": { pins: [A, B] } } });
    const { policy } = normalizePolicy(parsed);
    assert.notEqual(policy, parsed);
    parsed.domains[0]!.mode = "report-only";
    parsed.domains[0]!.pins.length = 0;
    parsed.domains.push({ ...entry, domain: "other.example", mode: "report-only" });
    assert.equal(policy.domains.length, 1);
    assert.equal(policy.domains[0]!.mode, "enforce");
    assert.deepEqual(
      policy.domains[0]!.pins.map((p) => p.pin),
      [A, B],
    );
    assert.ok(
      Object.isFrozen(policy) && Object.isFrozen(policy.domains) && Object.isFrozen(policy.domains[0]),
    );
    assert.ok(Object.isFrozen(policy.domains[0]!.pins) && Object.isFrozen(policy.domains[0]!.pins[0]));
  });

  it("accepts the keypin.json form as parsePolicy does", () => {
    const { policy } = normalizePolicy({
      domains: { "API.MyApp.com.": { pins: [A, B], mode: "report-only" } },
    });
    assert.equal(policy.domains[0]!.domain, "api.myapp.com");
    assert.equal(policy.domains[0]!.key, "API.MyApp.com.");
    assert.equal(policy.domains[0]!.mode, "report-only");
  });

  it("enforces when mode is missing and refuses a misspelled mode, naming it", () => {
    const { mode: _mode, ...noMode } = { ...entry, mode: "enforce" };
    assert.equal(normalizePolicy({ domains: [noMode] }).policy.domains[0]!.mode, "enforce");
    for (const mode of ["enforced", "Enforce", "ENFORCE", "report_only", "", null, true, 1]) {
      const e = refused({ domains: [{ ...entry, mode }] });
      assert.equal(e.problems[0]?.path, "/domains/0/mode");
      assert.match(e.message, /"mode" must be "enforce" or "report-only"/);
    }
    assert.match(refused({ domains: [{ ...entry, mode: "enforced" }] }).message, /did you mean "enforce"\?/);
  });

  it("normalizes pins given as strings and refuses malformed ones", () => {
    const { policy } = normalizePolicy({ domains: [{ ...entry, pins: [A, `pin-sha256="${B.slice(7)}"`] }] });
    assert.deepEqual(
      policy.domains[0]!.pins,
      [{ pin: A }, { pin: B }].map((p) => Object.assign(Object.create(null), p)),
    );
    assert.equal(
      refused({ domains: [{ ...entry, pins: ["sha256/short"] }] }).problems[0]?.path,
      "/domains/0/pins/0",
    );
    assert.equal(
      refused({ domains: [{ ...entry, pins: [{ pin: 42 }] }] }).problems[0]?.path,
      "/domains/0/pins/0/pin",
    );
  });

  it("refuses holes, extra properties and unknown fields at every level", () => {
    const cases: [unknown, string][] = [
      // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
      [{ domains: [entry, , entry] }, "/domains"],
      // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
      [{ domains: [{ ...entry, pins: [{ pin: A }, , { pin: B }] }] }, "/domains/0/pins"],
      [{ domains: Object.assign([entry], { extra: 1 }) }, "/domains"],
      [
        { domains: [{ ...entry, reportUris: Object.assign(new Array(3), { 0: "https://r.example/" }) }] },
        "/domains/0/reportUris",
      ],
      [{ domains: [entry], version: 2 }, "/version"],
      [{ domains: [{ ...entry, includeSubdomain: true }] }, "/domains/0/includeSubdomain"],
      [{ domains: [{ ...entry, pins: [{ pin: A, note: "x" }] }] }, "/domains/0/pins/0/note"],
      [{ domains: [{ ...entry, domain: undefined }] }, "/domains/0/domain"],
      [{ domains: [{ ...entry, domain: "*.myapp.com" }] }, "/domains/0/domain"],
      [{ domains: [{ ...entry, domain: "0x7f.1" }] }, "/domains/0/domain"],
      [{ domains: [{ ...entry, key: "other.example" }] }, "/domains/0/key"],
      [{ domains: [{ ...entry, includeSubdomains: "true" }] }, "/domains/0/includeSubdomains"],
      [{ domains: [{ ...entry, pins: [] }] }, "/domains/0/pins"],
      [{ domains: [entry, { ...entry, domain: "API.MyApp.com." }] }, "/domains/1"],
      [
        {
          domains: [
            { ...entry, domain: "127.0.0.1" },
            { ...entry, domain: "::ffff:127.0.0.1" },
          ],
        },
        "/domains/1",
      ],
    ];
    for (const [value, path] of cases) {
      if (
        path === "/domains/1" &&
        JSON.stringify(value).includes("::ffff") &&
        normalizeHost("::ffff:127.0.0.1") !== "127.0.0.1"
      )
        continue;
      assert.deepEqual(
        refused(value).problems.map((p) => p.path),
        [path],
        JSON.stringify(value),
      );
    }
  });

  it("refuses dates that are not yyyy-MM-dd strings: NaN, Infinity, Date objects, numbers", () => {
    for (const expires of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      new Date(Number.NaN),
      new Date("2027-01-01"),
      20270101,
      "2027-02-30",
      "+275760-09-13",
    ]) {
      assert.equal(refused({ domains: [{ ...entry, expires }] }).problems[0]?.path, "/domains/0/expires");
    }
  });

  it("reads each field once: a getter that changes its value after the check does not reach the copy", () => {
    let reads = 0;
    const tricky = {
      ...entry,
      get mode() {
        reads++;
        return reads === 1 ? "enforce" : "report-only";
      },
    };
    const { policy } = normalizePolicy({ domains: [tricky] });
    assert.equal(reads, 1);
    assert.equal(policy.domains[0]!.mode, "enforce");
    let pinReads = 0;
    const pins = new Proxy([{ pin: A }, { pin: B }], {
      get(target, p, r) {
        if (p === "0") pinReads++;
        return p === "0" && pinReads > 1 ? { pin: "not a pin" } : Reflect.get(target, p, r);
      },
    });
    assert.deepEqual(
      normalizePolicy({ domains: [{ ...entry, pins }] }).policy.domains[0]!.pins.map((p) => p.pin),
      [A, B],
    );
    assert.equal(pinReads, 1);
  });

  it("turns a getter or proxy that throws into a PolicyError", () => {
    const e = refused({
      get domains() {
        throw new TypeError("no");
      },
    });
    assert.match(e.message, /reading the policy threw \(TypeError: no\)/);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    refused({ domains: [proxy] });
  });

  it("accepts frozen input", () => {
    const frozen = Object.freeze({
      domains: Object.freeze([Object.freeze({ ...entry, pins: Object.freeze([Object.freeze({ pin: A })]) })]),
    });
    assert.equal(normalizePolicy(frozen).policy.domains[0]!.pins[0]!.pin, A);
  });

  it("ignores a polluted Object.prototype: inherited mode, includeSubdomains, expires and role change nothing", () => {
    const proto = Object.prototype as Record<string, unknown>;
    const polluted = {
      mode: "report-only",
      includeSubdomains: true,
      expires: "2000-01-01",
      role: "backup",
      key: "x",
    };
    Object.assign(proto, polluted);
    try {
      const { policy } = normalizePolicy({
        domains: [{ domain: "api.myapp.com", pins: [{ pin: A }, { pin: B }] }],
      });
      const [d] = policy.domains;
      assert.equal(d!.mode, "enforce");
      assert.equal(d!.includeSubdomains, false);
      assert.equal(d!.expires, undefined, "an entry without expires never expires");
      assert.equal(d!.key, undefined);
      assert.equal(d!.pins[0]!.role, undefined);
      const file = normalizePolicy({ domains: { "api.myapp.com": { pins: [A, B] } } }).policy.domains[0]!;
      assert.equal(file.mode, "enforce");
      assert.equal(file.expires, undefined);
    } finally {
      for (const k of Object.keys(polluted)) delete proto[k];
    }
  });

  it("accepts an empty list: a policy that pins nothing, said explicitly", () => {
    assert.deepEqual([...normalizePolicy({ domains: [] }).policy.domains], []);
  });

  it("refuses what is no policy at all", () => {
    for (const value of [
      null,
      undefined,
      "keypin.json",
      42,
      [],
      { domains: "api.myapp.com" },
      { pins: [A] },
    ]) {
      refused(value);
    }
  });
});

describe("validatePolicy and normalizePolicy on deeply nested input", () => {
  it("give a PolicyError, not a RangeError, for 100,000 nested arrays or objects in any field", () => {
    let array: unknown = [];
    let object: unknown = {};
    for (let i = 0; i < 100_000; i++) {
      array = [array];
      object = { a: object };
    }
    for (const deep of [array, object]) {
      for (const value of [
        deep,
        { domains: deep },
        { domains: { "a.com": deep } },
        { domains: { "a.com": { pins: deep } } },
        { domains: { "a.com": { pins: [deep] } } },
        { domains: { "a.com": { pins: [A, B], mode: deep, expires: deep, extra: deep } } },
        { domains: [{ ...(deep as object), domain: "a.com", pins: [deep] }] },
      ]) {
        assert.equal(validatePolicy(value).ok, false);
        assert.throws(() => normalizePolicy(value), PolicyError);
      }
    }
  });
});

describe("renewal.reuseKey: how the host's certificate is renewed", () => {
  it("reads it from keypin.json and from a normalized policy, and leaves it out when absent", () => {
    const { policy } = parsePolicy({
      domains: {
        "api.myapp.com": { pins: [A, B], renewal: { reuseKey: true } },
        "cdn.myapp.com": { pins: [A, B], renewal: { reuseKey: false } },
        "www.myapp.com": { pins: [A, B] },
      },
    });
    assert.deepEqual(
      policy.domains.map((d) => d.renewal),
      [{ reuseKey: true }, { reuseKey: false }, undefined],
    );
    assert.equal(Object.hasOwn(policy.domains[2]!, "renewal"), false);
    const { policy: normalized } = normalizePolicy(policy);
    assert.deepEqual({ ...normalized.domains[0]!.renewal }, { reuseKey: true });
    assert.ok(Object.isFrozen(normalized.domains[0]!.renewal), "the copy's renewal cannot be changed");
    assert.equal(Object.getPrototypeOf(normalized.domains[0]!.renewal), null);
    // The caller's object changing later does not reach the copy.
    policy.domains[0]!.renewal!.reuseKey = false;
    assert.equal(normalized.domains[0]!.renewal!.reuseKey, true);
  });

  it("refuses a bad value with a PolicyError whose problem names the field by its JSON Pointer", () => {
    const cases: [unknown, string, RegExp][] = [
      [
        true,
        "/domains/a.com/renewal",
        /"renewal" must be an object like \{ "reuseKey": true \}; found boolean true/,
      ],
      [{}, "/domains/a.com/renewal", /missing "renewal\.reuseKey"/],
      [{ reuseKey: "yes" }, "/domains/a.com/renewal/reuseKey", /"renewal\.reuseKey" must be true or false/],
      [
        { reuseKey: true, reusekey: false },
        "/domains/a.com/renewal/reusekey",
        /unknown field "reusekey": did you mean "reuseKey"\?/,
      ],
    ];
    for (const [renewal, path, message] of cases) {
      const doc = { domains: { "a.com": { pins: [A, B], renewal } } };
      let error: unknown;
      try {
        parsePolicy(doc);
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof PolicyError, `${JSON.stringify(renewal)}: ${String(error)}`);
      assert.equal(error.code, "ERR_KEYPIN_POLICY");
      assert.deepEqual(
        problemsOf(doc).map((p) => p.path),
        [path],
      );
      assert.match(problemsOf(doc)[0]!.message, message);
      assert.match(error.message, message);
    }
    // The normalized form is held to the same rule.
    assert.throws(
      () =>
        normalizePolicy({
          domains: [{ domain: "a.com", pins: [{ pin: A }], reportUris: [], renewal: { reuseKey: 1 } }],
        }),
      (e: unknown) => e instanceof PolicyError && /\/domains\/0\/renewal\/reuseKey/.test(e.message),
    );
  });
});
