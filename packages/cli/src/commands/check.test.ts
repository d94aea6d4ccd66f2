import assert from "node:assert/strict";
import { test } from "node:test";
import { findDomainPolicy, parsePolicy } from "@keypin/core";
import { lookupDomainPolicy } from "./check.js";

const pin = (n: number) => `sha256/${Buffer.alloc(32, n).toString("base64")}`;

test("finds the same policy entry as core's findDomainPolicy for every kind of host name", () => {
  const { policy } = parsePolicy({
    domains: {
      "myapp.com": { includeSubdomains: true, pins: [pin(1), pin(2)] },
      "api.myapp.com": { pins: [pin(3), pin(4)] },
      "cdn.myapp.com": { includeSubdomains: false, pins: [pin(5), pin(6)] },
      "deep.a.b.example.org": { includeSubdomains: true, pins: [pin(7), pin(8)] },
      "b.example.org": { includeSubdomains: true, pins: [pin(9), pin(10)] },
      "127.0.0.1": { pins: [pin(11), pin(12)] },
      "xn--bcher-kva.example": { includeSubdomains: true, pins: [pin(13), pin(14)] },
    },
  });
  const hosts = [
    "myapp.com",
    "MyApp.com.",
    "api.myapp.com",
    "v2.api.myapp.com",
    "cdn.myapp.com",
    "img.cdn.myapp.com",
    "other.com",
    "x.deep.a.b.example.org",
    "a.b.example.org",
    "example.org",
    "127.0.0.1",
    "0x7f.0.0.1",
    "sub.127.0.0.1",
    "www.xn--bcher-kva.example",
    "www.bücher.example",
    "",
    ".",
    "com",
  ];
  for (const host of hosts) {
    const expected = findDomainPolicy(policy, host);
    assert.equal(lookupDomainPolicy(policy, host), expected, host);
  }
  // Sanity: the cases differ, so equality above is not vacuous.
  assert.equal(lookupDomainPolicy(policy, "v2.api.myapp.com")?.domain, "myapp.com");
  assert.equal(lookupDomainPolicy(policy, "img.cdn.myapp.com")?.domain, "myapp.com");
  assert.equal(lookupDomainPolicy(policy, "a.b.example.org")?.domain, "b.example.org");
  assert.equal(lookupDomainPolicy(policy, "other.com"), undefined);
});
