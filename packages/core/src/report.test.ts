import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decodePem } from "./pem.js";
import { computePin } from "./pin.js";
import { parsePolicy } from "./policy/validate.js";
import { buildPinFailureReport, reportDedupeKey, TRUSTKIT_VALIDATION_RESULT } from "./report.js";
import { evaluateChain } from "./verdict.js";
import { parseCertificate } from "./x509/certificate.js";

const sha256 = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());
let dir = "";
let certs: Uint8Array[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keypin-core-report-"));
  for (const name of ["ca", "leaf"]) {
    execFileSync(
      "openssl",
      [
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        join(dir, `${name}.key`),
      ],
      { stdio: "pipe" },
    );
  }
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-new",
      "-key",
      join(dir, "ca.key"),
      "-out",
      join(dir, "ca.crt"),
      "-days",
      "3",
      "-subj",
      "/CN=Forging CA",
    ],
    { stdio: "pipe" },
  );
  execFileSync(
    "openssl",
    [
      "req",
      "-new",
      "-key",
      join(dir, "leaf.key"),
      "-out",
      join(dir, "leaf.csr"),
      "-subj",
      "/CN=api.myapp.com",
    ],
    { stdio: "pipe" },
  );
  execFileSync(
    "openssl",
    [
      "x509",
      "-req",
      "-in",
      join(dir, "leaf.csr"),
      "-CA",
      join(dir, "ca.crt"),
      "-CAkey",
      join(dir, "ca.key"),
      "-out",
      join(dir, "leaf.crt"),
      "-days",
      "2",
    ],
    { stdio: "pipe" },
  );
  certs = ["leaf.crt", "ca.crt"].map((f) => decodePem(readFileSync(join(dir, f), "utf8"))[0]!.der);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const PINNED = `sha256/${createHash("sha256").update("genuine").digest("base64")}` as const;
const BACKUP = `sha256/${createHash("sha256").update("backup").digest("base64")}` as const;

function mismatchReport(now: Date, port = 443) {
  const { policy } = parsePolicy({
    domains: {
      "myapp.com": {
        includeSubdomains: true,
        pins: [PINNED, { pin: BACKUP, role: "backup" }],
        expires: "2027-06-30",
        mode: "report-only",
      },
    },
  });
  const chain = certs.map((der) => {
    const info = parseCertificate(der);
    return { subject: info.subject, pin: computePin(info.spki, sha256) };
  });
  const verdict = evaluateChain({ policy, host: "API.myapp.com", chain, now });
  assert.equal(verdict.verdict, "mismatch");
  if (verdict.verdict !== "mismatch") throw new Error("unreachable");
  return buildPinFailureReport({
    verdict,
    domainPolicy: policy.domains[0]!,
    port,
    servedChain: certs,
    validatedChain: certs,
    now,
    app: { "app-bundle-id": "com.myapp.ios", "app-version": "1.2" },
  });
}

describe("buildPinFailureReport", () => {
  it("fills RFC 7469's fields, TrustKit's enforce-pinning and validation-result, and the app block", () => {
    const report = mismatchReport(new Date("2026-11-25T10:11:12.345Z"));
    const { "served-certificate-chain": served, "validated-certificate-chain": validated, ...rest } = report;
    assert.deepEqual(rest, {
      "date-time": "2026-11-25T10:11:12Z",
      hostname: "api.myapp.com",
      port: 443,
      "effective-expiration-date": "2027-06-30T23:59:59Z",
      "include-subdomains": true,
      "noted-hostname": "myapp.com",
      "known-pins": [`pin-sha256="${PINNED.slice(7)}"`, `pin-sha256="${BACKUP.slice(7)}"`],
      "enforce-pinning": false,
      "validation-result": TRUSTKIT_VALIDATION_RESULT.failedNoMatchingPin,
      app: { "app-bundle-id": "com.myapp.ios", "app-version": "1.2" },
    });
    assert.equal(TRUSTKIT_VALIDATION_RESULT.failedNoMatchingPin, 1);
    assert.deepEqual(served, validated);
    assert.deepEqual(
      served.map((pem) => new X509Certificate(pem).subject),
      ["CN=api.myapp.com", "CN=Forging CA"],
    );
  });

  it("omits effective-expiration-date when the domain has no expiry", () => {
    const { policy } = parsePolicy({ domains: { "a.com": { pins: [PINNED] } } });
    const verdict = evaluateChain({ policy, host: "a.com", chain: [{ subject: "CN=x", pin: BACKUP }] });
    assert.ok(verdict.verdict === "mismatch");
    const report = buildPinFailureReport({
      verdict,
      domainPolicy: policy.domains[0]!,
      port: 8443,
      servedChain: [],
      validatedChain: [],
    });
    assert.equal("effective-expiration-date" in report, false);
    assert.equal("app" in report, false);
    assert.equal(report["enforce-pinning"], true);
  });
});

describe("reportDedupeKey", () => {
  it("is the same for reports that differ only in date-time, and differs when anything else differs", () => {
    const a = mismatchReport(new Date("2026-11-25T10:00:00Z"));
    const b = mismatchReport(new Date("2026-11-26T09:00:00Z"));
    assert.notEqual(a["date-time"], b["date-time"]);
    assert.equal(reportDedupeKey(a), reportDedupeKey(b));
    assert.notEqual(
      reportDedupeKey(a),
      reportDedupeKey(mismatchReport(new Date("2026-11-25T10:00:00Z"), 8443)),
    );
    assert.equal(
      reportDedupeKey({ ...a, hostname: a.hostname }),
      reportDedupeKey(Object.fromEntries(Object.entries(a).reverse()) as typeof a),
    );
  });
});
