import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { validatePolicy } from "./policy/validate.js";
import { policySchema } from "./schema.js";

const pinOf = (s: string) => createHash("sha256").update(s).digest("base64");
const A = `sha256/${pinOf("a")}`;
const B = `sha256/${pinOf("b")}`;
const ok = { pins: [A, { pin: B, role: "backup" }] };

/** Documents both validators must accept. Lint warnings (one pin, no backup, expired) are not failures. */
const VALID: [string, unknown][] = [
  [
    "the contract example",
    {
      $schema: "./node_modules/@keypin/core/keypin.schema.json",
      domains: {
        "api.myapp.com": {
          includeSubdomains: true,
          pins: [A, { pin: B, role: "backup", label: "offline backup key, 2026" }],
          expires: "2027-06-30",
          mode: "enforce",
          reportUris: ["https://pins.myapp.com/report"],
        },
      },
    },
  ],
  [
    "a bare base64 pin and an HPKP-style pin",
    { domains: { "a.com": { pins: [pinOf("x"), `pin-sha256="${pinOf("y")}"`] } } },
  ],
  ["a single pin without backup (lint warnings only)", { domains: { "a.com": { pins: [A] } } }],
  ["an expired entry (lint warning only)", { domains: { "a.com": { ...ok, expires: "2001-01-01" } } }],
  [
    "report-only mode with an http report URI",
    { domains: { "a.com": { ...ok, mode: "report-only", reportUris: ["http://r.example/x"] } } },
  ],
  [
    "a report URI on a docker-compose service name (an underscore in the host)",
    { domains: { "a.com": { ...ok, reportUris: ["http://keypin_collect:8080/report"] } } },
  ],
  [
    "a label with a character outside the Basic Multilingual Plane",
    { domains: { "a.com": { pins: [{ pin: A, label: "spare key 🔑" }, B] } } },
  ],
  ["a leap day", { domains: { "a.com": { ...ok, expires: "2028-02-29" } } }],
  ["a leap day in a year divisible by 400", { domains: { "a.com": { ...ok, expires: "2000-02-29" } } }],
  ["mixed-case keys with a trailing dot", { domains: { "API.MyApp.COM.": ok } }],
  ["a single-label host", { domains: { localhost: ok } }],
  ["a host with digits and hyphens", { domains: { "x-1.2fa.example": ok } }],
  ["an IPv4 address", { domains: { "192.168.0.1": ok } }],
  [
    "IPv6 addresses in several forms",
    { domains: { "::1": ok, "[2001:db8::1]": ok, "::ffff:10.0.0.1": ok, "fe80:0:0:0:0:0:0:1": ok } },
  ],
  ["a 63-character label", { domains: { [`${"a".repeat(63)}.com`]: ok } }],
  ["an xn-- name", { domains: { "xn--bcher-kva.example": ok } }],
  ["renewals that keep the leaf key", { domains: { "a.com": { ...ok, renewal: { reuseKey: true } } } }],
  ["renewals that make a new key", { domains: { "a.com": { ...ok, renewal: { reuseKey: false } } } }],
  [
    "pin objects with every role",
    {
      domains: {
        "a.com": { pins: ["leaf", "intermediate", "root", "backup"].map((role) => ({ pin: A, role })) },
      },
    },
  ],
];

/** Documents both validators must reject. */
const INVALID: [string, unknown][] = [
  ["not an object", []],
  ["null", null],
  ["no domains", {}],
  ["empty domains", { domains: {} }],
  ["domains as an array", { domains: [] }],
  ["an unknown top-level field", { domains: { "a.com": ok }, version: 1 }],
  ["a typo: includeSubdomain", { domains: { "a.com": { ...ok, includeSubdomain: true } } }],
  ["includeSubdomains as a string", { domains: { "a.com": { ...ok, includeSubdomains: "true" } } }],
  ["no pins", { domains: { "a.com": {} } }],
  ["empty pins", { domains: { "a.com": { pins: [] } } }],
  ["pins as a string", { domains: { "a.com": { pins: A } } }],
  ["a hex pin", { domains: { "a.com": { pins: [createHash("sha256").update("a").digest("hex")] } } }],
  [
    "a base64url pin",
    { domains: { "a.com": { pins: [`sha256/${createHash("sha256").update("a").digest("base64url")}`] } } },
  ],
  [
    "a sha1 pin",
    { domains: { "a.com": { pins: [`sha1/${createHash("sha1").update("a").digest("base64")}`] } } },
  ],
  ["a 33-byte pin", { domains: { "a.com": { pins: [`sha256/${Buffer.alloc(33).toString("base64")}`] } } }],
  ["a pin with spaces", { domains: { "a.com": { pins: [` ${A}`] } } }],
  ["a pin as a number", { domains: { "a.com": { pins: [42] } } }],
  ["a pin object without pin", { domains: { "a.com": { pins: [{ role: "backup" }] } } }],
  ["a pin object with an unknown role", { domains: { "a.com": { pins: [{ pin: A, role: "spare" }] } } }],
  ["a pin object with an unknown field", { domains: { "a.com": { pins: [{ pin: A, comment: "x" }] } } }],
  ["a label that is not a string", { domains: { "a.com": { pins: [{ pin: A, label: 1 }] } } }],
  ["expires not a date", { domains: { "a.com": { ...ok, expires: "next year" } } }],
  ["expires on February 30", { domains: { "a.com": { ...ok, expires: "2027-02-30" } } }],
  ["expires on a leap day of a non-leap year", { domains: { "a.com": { ...ok, expires: "2100-02-29" } } }],
  ["expires with a time", { domains: { "a.com": { ...ok, expires: "2027-06-30T00:00:00Z" } } }],
  ["an unknown mode", { domains: { "a.com": { ...ok, mode: "monitor" } } }],
  ["reportUris as a string", { domains: { "a.com": { ...ok, reportUris: "https://r.example" } } }],
  ["a report URI that is not http(s)", { domains: { "a.com": { ...ok, reportUris: ["mailto:x@y.z"] } } }],
  ["a wildcard domain", { domains: { "*.myapp.com": ok } }],
  ["a non-ASCII domain", { domains: { "bücher.example": ok } }],
  ["a URL as domain", { domains: { "https://a.com": ok } }],
  ["a domain with a port", { domains: { "a.com:443": ok } }],
  ["an empty domain", { domains: { "": ok } }],
  ["a label starting with a hyphen", { domains: { "-a.com": ok } }],
  ["a 64-character label", { domains: { [`${"a".repeat(64)}.com`]: ok } }],
  ["a name longer than 253 characters", { domains: { [Array(5).fill("a".repeat(60)).join(".")]: ok } }],
  ["an IPv4 address with an octet over 255", { domains: { "256.1.1.1": ok } }],
  ["an IPv4 address with leading zeros", { domains: { "010.0.0.1": ok } }],
  ["an all-numeric last label", { domains: { "a.123": ok } }],
  ["an invalid IPv6 address", { domains: { "2001:db8:::1": ok } }],
  ["a domain entry that is not an object", { domains: { "a.com": [A] } }],
  ["$schema that is not a string", { $schema: 1, domains: { "a.com": ok } }],
  ["renewal as true", { domains: { "a.com": { ...ok, renewal: true } } }],
  ["renewal as an array", { domains: { "a.com": { ...ok, renewal: [{ reuseKey: true }] } } }],
  ["renewal without reuseKey", { domains: { "a.com": { ...ok, renewal: {} } } }],
  ["renewal.reuseKey as a string", { domains: { "a.com": { ...ok, renewal: { reuseKey: "true" } } } }],
  ["renewal.reuseKey as null", { domains: { "a.com": { ...ok, renewal: { reuseKey: null } } } }],
  [
    "a typo in renewal: reuse_key",
    { domains: { "a.com": { ...ok, renewal: { reuseKey: true, reuse_key: true } } } },
  ],
  ["reuseKey at the domain's level", { domains: { "a.com": { ...ok, reuseKey: true } } }],
];

describe("keypin.schema.json", () => {
  it("ships the same schema as policySchema", () => {
    const shipped = JSON.parse(readFileSync(new URL("../keypin.schema.json", import.meta.url), "utf8"));
    assert.deepEqual(shipped, policySchema);
  });

  it("compiles under ajv's strict draft 2020-12 mode", () => {
    new Ajv2020({ strict: true, allErrors: true }).compile(policySchema);
  });

  it("has patterns every validator's engine reads: Python's re and JavaScript without the u flag", () => {
    const patterns: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) for (const item of node) walk(item);
      else if (node && typeof node === "object")
        for (const [key, value] of Object.entries(node)) {
          if (key === "pattern" && typeof value === "string") patterns.push(value);
          else walk(value);
        }
    };
    walk(policySchema);
    assert.ok(patterns.length >= 4);
    for (const pattern of patterns) new RegExp(pattern); // throws on what only the u flag reads
    const python = spawnSync(
      "python3",
      ["-c", "import json,re,sys\nfor p in json.load(sys.stdin): re.compile(p)"],
      {
        input: JSON.stringify(patterns),
        encoding: "utf8",
      },
    );
    assert.equal(python.status, 0, python.stderr);
  });

  const validate = new Ajv2020({ strict: true, allErrors: true }).compile(policySchema);
  for (const [name, doc] of VALID) {
    it(`accepts, like validatePolicy, ${name}`, () => {
      const result = validatePolicy(doc);
      assert.equal(result.ok, true, JSON.stringify(!result.ok && result.problems));
      assert.equal(validate(doc), true, JSON.stringify(validate.errors));
    });
  }
  for (const [name, doc] of INVALID) {
    it(`rejects, like validatePolicy, ${name}`, () => {
      assert.equal(validatePolicy(doc).ok, false);
      assert.equal(validate(doc), false);
    });
  }
});

/** The one check a JSON Schema cannot make: that an xn-- label decodes (validatePolicy's message for it). */
const punycodeOnly = /^"[^"]*": its label "xn--[^"]*" /i;
/** Nor can it compare keys after normalization: two spellings of one host (validatePolicy's message). */
const sameHost = /^"[^"]*" is the same host as "[^"]*" /;

describe("keypin.schema.json and validatePolicy on an xn-- label that does not decode", () => {
  it("validatePolicy refuses it and the schema, which has no Punycode decoder, accepts it", () => {
    const doc = { domains: { "xn--a.example": ok } };
    const result = validatePolicy(doc);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.problems.every((p) => punycodeOnly.test(p.message)));
    assert.equal(new Ajv2020({ strict: true }).compile(policySchema)(doc), true);
  });
});

describe("keypin.schema.json and validatePolicy on two spellings of one host", () => {
  for (const keys of [
    ["a.com", "A.com"],
    ["a.com", "a.com."],
    ["::1", "[::1]"],
    ["::1", "0:0:0:0:0:0:0:1"],
  ]) {
    it(`validatePolicy refuses ${keys.join(" and ")}, which the schema (no normalization) accepts`, () => {
      const doc = { domains: Object.fromEntries(keys.map((k) => [k, ok])) };
      const result = validatePolicy(doc);
      assert.equal(result.ok, false);
      assert.ok(!result.ok && result.problems.every((p) => sameHost.test(p.message)));
      assert.equal(new Ajv2020({ strict: true }).compile(policySchema)(doc), true);
    });
  }
});

describe("keypin.schema.json and validatePolicy on generated documents", () => {
  const validate = new Ajv2020({ strict: true }).compile(policySchema);
  const b64 = fc.uint8Array({ minLength: 30, maxLength: 34 }).map((b) => Buffer.from(b).toString("base64"));
  const pinText = fc.oneof(
    b64.map((x) => `sha256/${x}`),
    b64.map((x) => `pin-sha256="${x}"`),
    b64,
    b64.map((x) => `sha1/${x}`),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex")),
    fc
      .uint8Array({ minLength: 32, maxLength: 32 })
      .map((b) => `sha256/${Buffer.from(b).toString("base64url")}=`),
    b64.map((x) => ` sha256/${x}`),
    fc.string({ maxLength: 10 }),
  );
  const pinItem = fc.oneof(
    pinText,
    fc.record(
      {
        pin: fc.oneof(pinText, fc.integer()),
        role: fc.constantFrom("leaf", "intermediate", "root", "backup", "spare"),
        label: fc.oneof(fc.string(), fc.integer()),
        note: fc.string(),
      },
      { requiredKeys: [] },
    ),
    fc.integer(),
  );
  const domainKey = fc.oneof(
    fc.domain(),
    fc.ipV4(),
    fc.ipV4Extended(),
    fc.ipV6(),
    fc.ipV6().map((ip) => `[${ip}]`),
    fc.stringMatching(/^[A-Za-z0-9.:*[\]-]{0,24}$/),
    fc.constantFrom(
      "bücher.de",
      "*.a.com",
      "a.com.",
      "A.COM",
      "a..com",
      "a.com:443",
      "localhost",
      "a.1",
      "1.2.3",
    ),
  );
  const date = fc.oneof(
    fc.stringMatching(/^[0-9]{4}-[0-1][0-9]-[0-3][0-9]$/),
    fc
      .date({ noInvalidDate: true, min: new Date("1900-01-01"), max: new Date("2999-12-31") })
      .map((d) => d.toISOString().slice(0, 10)),
    fc.string({ maxLength: 12 }),
  );
  const entry = fc.record(
    {
      includeSubdomains: fc.oneof(fc.boolean(), fc.constant("true")),
      pins: fc.oneof(fc.array(pinItem, { maxLength: 3 }), fc.string()),
      expires: fc.oneof(date, fc.integer()),
      mode: fc.constantFrom("enforce", "report-only", "audit"),
      reportUris: fc.oneof(
        fc.array(fc.oneof(fc.webUrl(), fc.string({ maxLength: 10 })), { maxLength: 2 }),
        fc.string(),
      ),
      includeSubdomain: fc.boolean(),
      renewal: fc.oneof(
        fc.record(
          { reuseKey: fc.oneof(fc.boolean(), fc.constant("yes")), reuse_key: fc.boolean() },
          { requiredKeys: [] },
        ),
        fc.boolean(),
      ),
    },
    { requiredKeys: [] },
  );
  const b32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("base64"));
  const goodPin = fc.oneof(
    b32.map((x) => `sha256/${x}`),
    b32.map((x) => `pin-sha256="${x}"`),
    b32,
  );
  const goodEntry = fc.record(
    {
      includeSubdomains: fc.boolean(),
      pins: fc.array(
        fc.oneof(
          goodPin,
          fc.record(
            {
              pin: goodPin,
              role: fc.constantFrom("leaf", "intermediate", "root", "backup"),
              label: fc.string(),
            },
            { requiredKeys: ["pin"] },
          ),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      expires: fc
        .date({ noInvalidDate: true, min: new Date("1970-01-01"), max: new Date("2999-12-31") })
        .map((d) => d.toISOString().slice(0, 10)),
      mode: fc.constantFrom("enforce", "report-only"),
      reportUris: fc.array(fc.webUrl({ validSchemes: ["https", "http"] }), { maxLength: 2 }),
      renewal: fc.record({ reuseKey: fc.boolean() }),
    },
    { requiredKeys: ["pins"] },
  );
  const mostlyGood = fc.record(
    {
      domains: fc.dictionary(
        fc.oneof(
          { arbitrary: fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6()), weight: 5 },
          { arbitrary: domainKey, weight: 1 },
        ),
        fc.oneof({ arbitrary: goodEntry, weight: 5 }, { arbitrary: entry, weight: 1 }),
        { minKeys: 1, maxKeys: 3 },
      ),
    },
    { requiredKeys: ["domains"] },
  );
  const doc = fc.oneof(
    mostlyGood,
    fc.record(
      {
        $schema: fc.oneof(fc.string(), fc.integer()),
        domains: fc.dictionary(domainKey, entry, { maxKeys: 3 }),
        extra: fc.string(),
      },
      { requiredKeys: [] },
    ),
    fc.anything(),
  );

  it("accept and reject the same random documents", () => {
    let accepted = 0;
    fc.assert(
      fc.property(doc, (d) => {
        const result = validatePolicy(d);
        const ours =
          result.ok || result.problems.every((p) => punycodeOnly.test(p.message) || sameHost.test(p.message));
        assert.equal(validate(d), ours, JSON.stringify(validate.errors));
        if (result.ok) accepted++;
      }),
      { numRuns: 3000 },
    );
    assert.ok(accepted > 300, `only ${accepted} generated documents were valid`);
  });
});
