import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { type CertificateInfo, computePin, type DomainPolicy } from "@keypin/core";
import { sha256 } from "@keypin/node";
import { buildInspectReport } from "./chain-report.js";
import { lintLiveChain } from "./live-lint.js";

const now = new Date("2026-06-01T00:00:00Z");
const day = 86_400_000;

function cert(subject: string, issuer: string, daysLeft = 300): CertificateInfo {
  return {
    der: new Uint8Array(randomBytes(64)),
    spki: new Uint8Array(randomBytes(91)),
    subject,
    issuer,
    notBefore: new Date(now.getTime() - 10 * day),
    notAfter: new Date(now.getTime() + daysLeft * day + 3_600_000),
    serialNumber: "01",
    subjectAltNames: { dns: [], ip: [] },
    keyType: "EC-P256",
    isCA: subject !== "CN=api.myapp.com",
    constraints: { version: 3, critical: [], present: [], ipAddressBytes: [], problems: [] },
    names: { subject: subject.toLowerCase(), issuer: issuer.toLowerCase() },
    signed: {
      tbs: new Uint8Array(),
      algorithm: { oid: "1.2.840.10045.4.3.2" },
      algorithmsMatch: true,
      signature: new Uint8Array(),
    },
  };
}
const pin = (c: CertificateInfo) => computePin(c.spki, sha256);
const leaf = cert("CN=api.myapp.com", "CN=R11, O=Let's Encrypt, C=US", 20);
const r11 = cert("CN=R11, O=Let's Encrypt, C=US", "CN=ISRG Root X1, O=Internet Security Research Group");
const x1 = cert(
  "CN=ISRG Root X1, O=Internet Security Research Group",
  "CN=ISRG Root X1, O=Internet Security Research Group",
);
const backupPin = computePin(new Uint8Array(randomBytes(91)), sha256);

function domain(pins: DomainPolicy["pins"], extra: Partial<DomainPolicy> = {}): DomainPolicy {
  return {
    domain: "api.myapp.com",
    includeSubdomains: false,
    pins,
    mode: "enforce",
    reportUris: [],
    ...extra,
  };
}
const codes = (d: DomainPolicy) => lintLiveChain(d, [leaf, r11], [leaf, r11, x1], now).map((f) => f.code);

describe("lint of pins against the live chain", () => {
  it("flags pins that only match a rotating Let's Encrypt intermediate", () => {
    assert.deepEqual(codes(domain([{ pin: pin(r11) }, { pin: backupPin, role: "backup" }])), [
      "rotates-intermediates",
    ]);
  });

  it("flags a leaf-only match that will not survive a renewal, and the pinned leaf expiring soon", () => {
    assert.deepEqual(codes(domain([{ pin: pin(leaf) }, { pin: backupPin, role: "backup" }])), [
      "will-not-survive-renewal",
      "leaf-expires-soon",
    ]);
  });

  it("does not flag a leaf-only match when the policy records that renewals keep the leaf key", () => {
    // As the ats-leaf-renewal rule reads it, and as `keypin init` writes it for iOS ATS leaf identities.
    const pins: DomainPolicy["pins"] = [{ pin: pin(leaf) }, { pin: backupPin, role: "backup" }];
    assert.deepEqual(codes(domain(pins, { renewal: { reuseKey: true } })), ["leaf-expires-soon"]);
    const unsaid = lintLiveChain(
      domain(pins, { renewal: { reuseKey: false } }),
      [leaf],
      [leaf, r11, x1],
      now,
    );
    assert.deepEqual(
      unsaid.map((f) => f.code),
      ["will-not-survive-renewal", "leaf-expires-soon"],
    );
    assert.match(unsaid[0]!.message, /record it as "renewal": \{ "reuseKey": true \}/);
  });

  it("flags a backup pin that is in the live chain", () => {
    assert.ok(
      codes(domain([{ pin: pin(x1) }, { pin: pin(r11), role: "backup" }])).includes("backup-in-live-chain"),
    );
  });

  it("is quiet for root plus backup, and warns when expires is near because Android and TrustKit then fail open", () => {
    assert.deepEqual(codes(domain([{ pin: pin(x1) }, { pin: backupPin, role: "backup" }])), []);
    const near = lintLiveChain(
      domain([{ pin: pin(x1) }, { pin: backupPin, role: "backup" }], { expires: "2026-06-10" }),
      [leaf],
      [leaf, r11, x1],
      now,
    );
    assert.deepEqual(
      near.map((f) => f.code),
      ["policy-expires-soon"],
    );
    assert.match(near[0]!.message, /fail open/);
  });
});

describe("inspect report", () => {
  it("marks a served certificate that is not on the verified path as extra", () => {
    const crossSigned = cert(
      "CN=ISRG Root X1, O=Internet Security Research Group",
      "CN=DST Root CA X3, O=Digital Signature Trust Co.",
    );
    const report = buildInspectReport(
      {
        host: "api.myapp.com",
        port: 443,
        servername: "api.myapp.com",
        served: [leaf, r11, crossSigned],
        verified: [leaf, r11, x1],
        trusted: true,
      },
      now,
    );
    assert.deepEqual(
      report.chain.map((c) => c.role),
      ["leaf", "intermediate", "extra"],
    );
    assert.deepEqual(
      report.verifiedChain.map((c) => c.role),
      ["leaf", "intermediate", "root"],
    );
    assert.equal(report.chain[0]!.daysLeft, 20);
    const warned = report.warnings.map((w) => w.code);
    assert.ok(warned.includes("rotates-intermediates"));
    assert.ok(warned.includes("extra-certificates"));
    assert.ok(warned.includes("expires-soon"));
  });

  it("gives no pin advice for an untrusted chain", () => {
    const report = buildInspectReport(
      {
        host: "api.myapp.com",
        port: 443,
        servername: "api.myapp.com",
        served: [leaf, r11],
        verified: undefined,
        trusted: false,
        authorizationError: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
      },
      now,
    );
    assert.equal(report.advice.length, 1);
    assert.match(report.advice[0]!, /No pin advice for an untrusted chain/);
    assert.ok(report.warnings.some((w) => w.code === "untrusted"));
  });
});
