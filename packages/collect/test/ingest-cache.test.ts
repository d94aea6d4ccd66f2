// The collector's per-report caches (issue 17's benchmarks) change no answer: the group key computed while
// parsing is the documented one (SHA-256 of TrustKit's tuple as JSON, as before the caches, so a database
// made by an older collector keeps its groups), and classification with parsed certificates, pins and chain
// links kept is the same as on a fresh process, including for certificates that look alike but differ.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { classify, classifyReport, groupKey, type IngestedReport, parseReport } from "@keypin/collect";
import { createChain, issue, unrelatedPin } from "@keypin/testkit";
import { rfc7469Report, trustKitAndroidReport, trustKitIosReport } from "./helpers.js";

/** The key as groupKey computes it from the report's fields alone (what the store's existing rows hold). */
function referenceKey(r: IngestedReport): string {
  const chain = r.servedChain.length > 0 ? r.servedChain : r.validatedChain;
  return createHash("sha256")
    .update(JSON.stringify([r.host, r.port, r.notedHost, chain, r.knownPins, r.result]))
    .digest("hex");
}

/** A PEM re-wrapped at 76 columns with CRLF: a sender's layout that the collector normalizes. */
function rewrap(pem: string): string {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  return `-----BEGIN CERTIFICATE-----\r\n${body.match(/.{1,76}/g)?.join("\r\n")}\r\n-----END CERTIFICATE-----\r\n`;
}

test("the group key of a parsed report is SHA-256 of TrustKit's tuple as JSON, for every shape and layout", async () => {
  const chain = await createChain("p256", ["keys.keypin.test"], "keys");
  const pins = [unrelatedPin()];
  const bodies: Record<string, unknown>[] = [
    trustKitIosReport(chain, "keys.keypin.test", 443, pins),
    trustKitAndroidReport(chain, "keys.keypin.test", 8443, pins),
    rfc7469Report(chain, "keys.keypin.test", 443, pins),
    { ...trustKitAndroidReport(chain, "KEYS.keypin.test", 443, pins), "noted-hostname": "Keys.Keypin.Test" },
    {
      ...trustKitAndroidReport(chain, "keys.keypin.test", 443, pins),
      "served-certificate-chain": [rewrap(chain.leaf.pem), rewrap(chain.intermediate.pem)],
    },
    {
      ...rfc7469Report(chain, "keys.keypin.test", 443, pins),
      "known-pins": [' pin-sha256="x" ', "\u00e9\u2028"],
    },
  ];
  const keys = new Set<string>();
  for (const body of bodies) {
    // Twice: the second parse takes every PEM from the cache.
    for (let round = 0; round < 2; round++) {
      const report = parseReport(JSON.stringify(body));
      assert.equal(groupKey(report), referenceKey(report));
      // A copy (not the parsed object) has its key computed from its fields: the same.
      assert.equal(groupKey({ ...report }), groupKey(report));
      keys.add(groupKey(report));
    }
  }
  // Re-wrapping the served chain does not change its group; the other variants do.
  assert.equal(keys.size, bodies.length - 1);
  assert.equal(
    groupKey(parseReport(JSON.stringify(bodies[1]))).length,
    64,
    "a hex SHA-256, as stored by earlier collectors",
  );
});

test("classification with certificates and links cached matches the uncached answer, look-alikes included", async () => {
  const host = "cache.keypin.test";
  const genuine = await createChain("p256", [host], "cache");
  // Same subject names as genuine's intermediate, another key: it did not sign genuine's leaf.
  const impostor = await issue("p256", {
    subject: genuine.intermediate.subject,
    issuer: genuine.root,
    ca: true,
  });
  const pins = [unrelatedPin()];
  const good = trustKitAndroidReport(genuine, host, 443, pins);
  const forged = {
    ...good,
    "validated-certificate-chain": [genuine.leaf.pem, impostor.pem, genuine.root.pem],
  };
  const answers = (body: Record<string, unknown>) => {
    const text = JSON.stringify(body);
    return [0, 1, 2].map(() => classify(parseReport(text), { publicRoots: [genuine.root.pem] }));
  };
  for (const [body, expected] of [
    [good, "server-change"],
    [forged, "misconfiguration"],
    [good, "server-change"],
  ] as const) {
    const all = answers(body);
    for (const a of all) assert.deepEqual(a, all[0]);
    assert.equal(all[0]?.classification, expected, JSON.stringify(all[0]?.evidence));
  }
  assert.match(
    answers(forged)[0]?.evidence.join("\n") ?? "",
    /validated-certificate-chain\[0\] .* is not issued by \[1\]/,
  );
  // A certificate that does not parse is refused (400's reason) each time, not remembered as something else.
  const broken = {
    ...good,
    "validated-certificate-chain": [
      genuine.leaf.pem.replace(/[A-Za-z0-9+/]{20}\n/, "AAAAAAAAAAAAAAAAAAAA\n"),
    ],
  };
  for (let i = 0; i < 3; i++) {
    assert.throws(
      () => parseReport(JSON.stringify(broken)),
      /field "validated-certificate-chain\[0\]" is not an X\.509 certificate/,
    );
  }
});

test("classification remembered per group (classifyReport) is classify's answer for each report, when only the validated chain, include-subdomains or the roots differ", async () => {
  const host = "memo.keypin.test";
  const genuine = await createChain("p256", [host, `*.${host}`], "memo");
  const impostor = await issue("p256", {
    subject: genuine.intermediate.subject,
    issuer: genuine.root,
    ca: true,
  });
  const pins = [unrelatedPin()];
  const good = trustKitAndroidReport(genuine, "a.memo.keypin.test", 443, pins);
  // Same served chain, so the same group key as good: only what classify also reads tells them apart.
  const forged = {
    ...good,
    "validated-certificate-chain": [genuine.leaf.pem, impostor.pem, genuine.root.pem],
  };
  const subdomains = { ...good, "noted-hostname": host, "include-subdomains": false };
  const covered = { ...subdomains, "include-subdomains": true };
  const rootsA = [genuine.root.pem];
  const rootsB: string[] = [];
  const seen = new Set<string>();
  for (let round = 0; round < 3; round++) {
    for (const body of [good, forged, subdomains, covered]) {
      for (const roots of [rootsA, rootsB]) {
        const text = JSON.stringify(body);
        const fresh = classify(parseReport(text), { publicRoots: roots });
        const remembered = classifyReport(parseReport(text), { publicRoots: roots });
        assert.deepEqual(remembered, fresh);
        seen.add(`${fresh.classification} ${fresh.evidence.join(" | ")}`);
      }
    }
  }
  assert.equal(groupKey(parseReport(JSON.stringify(good))), groupKey(parseReport(JSON.stringify(forged))));
  // The variants do get different answers (a memo keyed on the group alone would give them one).
  assert.ok(seen.size >= 4, [...seen].join("\n"));
  // A report not from parseReport is classified, not looked up.
  const copy = { ...parseReport(JSON.stringify(forged)) };
  assert.deepEqual(classifyReport(copy, { publicRoots: rootsA }), classify(copy, { publicRoots: rootsA }));
});
