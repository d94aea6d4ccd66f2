import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { validatePolicy } from "./policy.js";
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
  [
    "pin objects with every role",
    {
      domains: {
        "a.com": { pins: ["leaf", "intermediate", "root", "backup"].map((role) => ({ pin: A, role })) },
      },
    },
  ],
  ["duplicate spellings (lint warning only)", { domains: { "a.com": ok, "A.com": ok } }],
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
];

describe("keypin.schema.json", () => {
  it("ships the same schema as policySchema", () => {
    const shipped = JSON.parse(readFileSync(new URL("../keypin.schema.json", import.meta.url), "utf8"));
    assert.deepEqual(shipped, policySchema);
  });

  it("compiles under ajv's strict draft 2020-12 mode", () => {
    new Ajv2020({ strict: true, allErrors: true }).compile(policySchema);
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
