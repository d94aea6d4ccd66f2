// Review 2, finding 2: OkHttp accepts, for a host, the pins of every pattern that matches it; keypin uses the
// nearest entry only. The import gives each entry the pins of the patterns above it that match its host, so
// every key the app accepts today is still accepted after import (and export), with a finding saying so.
// interop/okhttp-union.test.ts checks the `accepted` table against OkHttp 4.12 itself.
import assert from "node:assert/strict";
import { test } from "node:test";
import { findDomainPolicy } from "@keypin/core";
import { compareSources, importFile, mergeSources } from "@keypin/import";
import { accepted, kotlinSource, pinOf, spellings } from "./okhttp-patterns.js";

test("OkHttp's pin union across patterns survives the import: keypin accepts, for each host, every pin OkHttp accepts", () => {
  const [source] = importFile("Pinning.kt", kotlinSource()).sources;
  const { policy } = mergeSources([source!]);
  for (const [host, pins] of Object.entries(accepted)) {
    const entry = findDomainPolicy(policy, host);
    assert.ok(entry !== undefined, `${host} is not pinned after import`);
    const have = new Set<string>(entry.pins.map((p) => p.pin));
    for (const b of pins)
      assert.ok(have.has(pinOf(b)), `${host}: OkHttp accepts ${pinOf(b)}, keypin refuses it`);
  }
  // Where keypin can say exactly what OkHttp does, it is exact (not wider).
  const exact = (host: string) =>
    findDomainPolicy(policy, host)!
      .pins.map((p) => p.pin)
      .sort();
  assert.deepEqual(exact("api.example.com"), [1, 2, 3].map(pinOf).sort());
  assert.deepEqual(exact("x.y.example.net"), [7, 8].map(pinOf).sort());
  assert.deepEqual(exact("example.com"), [2, 3].map(pinOf).sort());

  // Each entry that got pins from a pattern above it says so, with the patterns and their lines.
  const union = source!.findings.filter((f) =>
    /OkHttp checks every pattern that matches a host/.test(f.message),
  );
  assert.deepEqual(union.map((f) => [f.domain, f.path, f.kind]).sort(), [
    ["api.example.com", "/domains/api.example.com/pins", "changed"],
    ["api.example.org", "/domains/api.example.org/pins", "changed"],
    ["deep.example.org", "/domains/deep.example.org/pins", "changed"],
    ["svc.example.io", "/domains/svc.example.io/pins", "changed"],
    ["x.y.example.net", "/domains/x.y.example.net/pins", "changed"],
  ]);
  const api = union.find((f) => f.domain === "api.example.com")!;
  assert.match(api.message, /the pins of \*\*\.example\.com \(line 5\).*1 other pin added/);
  // *.example.io matches svc.example.io but not its subdomains: keypin's one set is wider there, and says so.
  assert.match(union.find((f) => f.domain === "svc.example.io")!.message, /\*\.example\.io .*wider/);
  assert.doesNotMatch(api.message, /wider/);
});

test("OkHttp patterns are read as OkHttp reads them: a spelling it never applies to the host is not imported and fails the comparison", () => {
  for (const [pattern, host, applied] of spellings) {
    const kt = `val p = CertificatePinner.Builder()\n    .add(${JSON.stringify(pattern)}, "${pinOf(1)}", "${pinOf(2)}")\n    .build()\n`;
    const [source] = importFile("Pinning.kt", kt).sources;
    const notApplied = source!.findings.filter((f) => f.kind === "not-applied");
    if (applied) {
      assert.deepEqual(
        source!.domains.map((d) => d.domain),
        [host],
        JSON.stringify(pattern),
      );
      assert.deepEqual(notApplied, [], JSON.stringify(pattern));
    } else {
      assert.deepEqual(source!.domains, [], `${JSON.stringify(pattern)} imported as pinned`);
      assert.equal(notApplied.length, 1, JSON.stringify(pattern));
      assert.equal(notApplied[0]!.domain, host);
      assert.equal(notApplied[0]!.place.line, 2);
      assert.deepEqual(
        compareSources([source!]).map((d) => [d.domain, d.field]),
        [[host, "spelling"]],
      );
    }
  }
});
