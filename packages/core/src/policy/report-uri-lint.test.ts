// lint `report-uri-pinned` (issue 17): a report URI on a host the same policy enforces pins for can never
// deliver the report that matters (RFC 7469 §2.1.4; TrustKit-Android#72): the interception that fails
// the pin fails the report's own connection.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lintPolicy } from "./lint.js";
import { parsePolicy } from "./validate.js";

const A = `sha256/${Buffer.alloc(32, 1).toString("base64")}`;
const B = `sha256/${Buffer.alloc(32, 2).toString("base64")}`;
const pins = [A, { pin: B, role: "backup" as const }];
const now = new Date("2026-06-01T00:00:00Z");

function reportFindings(domains: Record<string, unknown>): [string, string][] {
  const { policy } = parsePolicy({ domains }, { now }) as { policy: Parameters<typeof lintPolicy>[0] };
  return lintPolicy(policy, { now })
    .filter((f) => f.code === "report-uri-pinned")
    .map((f) => [f.path, f.message]);
}

describe("lint: report-uri-pinned", () => {
  it("flags a report URI on the pinned host itself, naming the URI, the pinned entry and the RFC", () => {
    const found = reportFindings({
      "api.myapp.com": { pins, reportUris: ["https://api.myapp.com/pin-report"] },
    });
    assert.equal(found.length, 1);
    assert.equal(found[0]?.[0], "/domains/api.myapp.com/reportUris/0");
    assert.match(
      found[0]?.[1] ?? "",
      /https:\/\/api\.myapp\.com\/pin-report.*"api\.myapp\.com".*RFC 7469 section 2\.1\.4/,
    );
  });

  it("flags a report host under a parent that pins with includeSubdomains, and another domain's report URI too", () => {
    const found = reportFindings({
      "myapp.com": { pins, includeSubdomains: true },
      "other.example": { pins, reportUris: ["https://unpinned.example/r", "https://reports.myapp.com/r"] },
    });
    assert.deepEqual(
      found.map((f) => f[0]),
      ["/domains/other.example/reportUris/1"],
    );
  });

  it("is quiet for an unpinned host, a subdomain the parent does not cover, a report-only or expired pin", () => {
    assert.deepEqual(
      reportFindings({ "api.myapp.com": { pins, reportUris: ["http://127.0.0.1:8470/report"] } }),
      [],
    );
    assert.deepEqual(
      reportFindings({ "myapp.com": { pins, reportUris: ["https://reports.myapp.com/r"] } }),
      [],
      "includeSubdomains is false: reports.myapp.com is not pinned",
    );
    assert.deepEqual(
      reportFindings({
        "api.myapp.com": { pins, mode: "report-only", reportUris: ["https://api.myapp.com/r"] },
      }),
      [],
    );
    assert.deepEqual(
      reportFindings({
        "api.myapp.com": { pins, expires: "2026-01-01", reportUris: ["https://api.myapp.com/r"] },
      }),
      [],
    );
  });

  it("the most specific entry decides: a report-only subdomain entry under an enforcing parent is not pinned for reports", () => {
    const found = reportFindings({
      "myapp.com": { pins, includeSubdomains: true },
      "reports.myapp.com": { pins, mode: "report-only" },
      "api.myapp.com": { pins, reportUris: ["https://reports.myapp.com/r", "https://x.api.myapp.com/r"] },
    });
    assert.deepEqual(
      found.map((f) => f[0]),
      ["/domains/api.myapp.com/reportUris/1"],
      "x.api.myapp.com falls under myapp.com's includeSubdomains",
    );
  });
});
