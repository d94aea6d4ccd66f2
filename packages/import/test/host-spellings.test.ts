// Review 2, findings 1, 4 and 7: a host is read only as its platform reads it. A spelling the platform compares
// literally (a trailing dot, capitals, Unicode, fullwidth dots, spaces) is not the host keypin would normalize
// it to: the app does not pin that host there, so the entry is not imported and compareSources (--check) fails.
// Two plist keys the platform treats as two hosts are never merged into one.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { compareSources, type ImportedSource, importFile } from "@keypin/import";
import bplistCreator from "bplist-creator";

const b64 = (b: number) => Buffer.alloc(32, b).toString("base64");
const P = (b: number) => `sha256/${b64(b)}`;

const nsc = (domain: string, second?: string) =>
  `<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
  <domain-config>
    <domain includeSubdomains="true">${domain}</domain>${second === undefined ? "" : `\n    <domain>${second}</domain>`}
    <pin-set><pin digest="SHA-256">${b64(1)}</pin><pin digest="SHA-256">${b64(2)}</pin></pin-set>
  </domain-config>
</network-security-config>
`;

/** A plist written by Python's plistlib (an outside writer): XML or binary. */
function plistlib(value: unknown, format: "xml" | "binary"): Buffer {
  const script = `import json, plistlib, sys
sys.stdout.buffer.write(plistlib.dumps(json.loads(sys.stdin.read()), fmt=plistlib.FMT_${format === "xml" ? "XML" : "BINARY"}))`;
  const r = spawnSync("python3", ["-c", script], { input: JSON.stringify(value) });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

/** What Python's plistlib reads back from a plist: the keys of a dict at `path` (the outside reader). */
function plistlibKeys(bytes: Uint8Array, path: string[]): string[] {
  const script = `import json, plistlib, sys
v = plistlib.loads(sys.stdin.buffer.read())
for k in json.loads(sys.argv[1]): v = v[k]
print(json.dumps(list(v.keys())))`;
  const r = spawnSync("python3", ["-c", script, JSON.stringify(path)], { input: bytes });
  assert.equal(r.status, 0, String(r.stderr));
  return JSON.parse(String(r.stdout)) as string[];
}

const ats = (domains: Record<string, { sub: boolean; pins: number[] }>) => ({
  NSAppTransportSecurity: {
    NSPinnedDomains: Object.fromEntries(
      Object.entries(domains).map(([k, d]) => [
        k,
        {
          NSIncludesSubdomains: d.sub,
          NSPinnedLeafIdentities: d.pins.map((b) => ({ "SPKI-SHA256-BASE64": b64(b) })),
        },
      ]),
    ),
  },
});
const trustKit = (domains: Record<string, Record<string, unknown>>) => ({
  TSKConfiguration: { TSKPinnedDomains: domains },
});

const only = (bytes: Uint8Array | string, file: string): ImportedSource => {
  const { sources } = importFile(file, bytes);
  assert.equal(sources.length, 1);
  return sources[0]!;
};
const notApplied = (s: ImportedSource) => s.findings.filter((f) => f.kind === "not-applied");

test("Android: a <domain> Android never applies (only trimmed and lowercased, compared with equals) is not imported, and --check's comparison fails", () => {
  // The host the app connects to, by Node's WHATWG URL parser (the spelling HTTP clients put on the wire): the
  // fullwidth, Unicode and hex spellings all become another string than Android's trimmed, lowercased text.
  for (const [written, host] of [
    ["api．example。com", "api.example.com"],
    ["bücher.example", "xn--bcher-kva.example"],
    ["0x7f.1", "127.0.0.1"],
  ] as const) {
    assert.equal(new URL(`https://${written}/`).hostname, host, written);
    assert.notEqual(written.trim().toLowerCase(), host);
  }
  const cases: [string, string, RegExp][] = [
    ["api.example.com.", "api.example.com", /a trailing dot/],
    ["API.EXAMPLE.COM.", "api.example.com", /a trailing dot/],
    ["api．example。com", "api.example.com", /fullwidth or ideographic dot/],
    ["api.example.com\u00a0", "api.example.com", /white space Java's trim keeps/],
    ["\u3000api.example.com", "api.example.com", /white space Java's trim keeps/],
    ["bücher.example", "xn--bcher-kva.example", /non-ASCII/],
    ["BÜCHER.example", "xn--bcher-kva.example", /non-ASCII/],
    ["0x7f.1", "127.0.0.1", /another spelling/],
  ];
  for (const [written, host, why] of cases) {
    const source = only(nsc(written), "nsc.xml");
    assert.deepEqual(source.domains, [], `${JSON.stringify(written)} imported as pinned`);
    const [f, ...rest] = notApplied(source);
    assert.equal(rest.length, 0);
    assert.equal(f?.domain, host, JSON.stringify(written));
    assert.equal(f?.place.line, 4);
    assert.match(f!.message, why);
    assert.match(f!.message, new RegExp(`never applies this entry's pins to ${host.replaceAll(".", "\\.")}`));
    // Alone, and against a file that does pin the host: both are differences (--check exits 1).
    const alone = compareSources([source]);
    assert.deepEqual(
      alone.map((d) => [d.domain, d.field]),
      [[host, "spelling"]],
    );
    const good = only(nsc(host), "good.xml");
    assert.deepEqual(good.findings, []);
    assert.ok(compareSources([good, source]).some((d) => d.field === "presence" && d.domain === host));
  }
});

test("Android: what Android does normalize (trim, lowercase) is still read as the host; a domain named twice is refused only in Android's spelling", () => {
  for (const written of ["API.Example.COM", "  api.example.com\n   ", "\tApi.example.com"]) {
    const source = only(nsc(written), "nsc.xml");
    assert.deepEqual(
      source.domains.map((d) => [d.domain, d.pins.map((p) => p.pin)]),
      [["api.example.com", [P(1), P(2)]]],
    );
    assert.deepEqual(source.findings, []);
  }
  assert.throws(
    () => importFile("nsc.xml", nsc("api.example.com", "API.example.com")),
    /nsc\.xml:5: "api\.example\.com" is already configured at line 4; Android rejects a domain named twice/,
  );
  // Two domains for Android (it keeps the dot): no rejection; the dotted one pins nothing.
  const two = only(nsc("api.example.com", "api.example.com."), "nsc.xml");
  assert.deepEqual(
    two.domains.map((d) => [d.domain, d.includeSubdomains, d.place.line]),
    [["api.example.com", true, 4]],
  );
  assert.deepEqual(
    notApplied(two).map((f) => f.place.line),
    [5],
  );
});

for (const format of ["xml", "binary"] as const) {
  test(`iOS (${format} plist by Python's plistlib): ATS and TrustKit keys are read as written; another spelling is not imported and fails the comparison`, () => {
    for (const key of [
      " api.example.com ",
      "api.example.com.",
      "API.example.com",
      "api．example。com",
      "Api.Example.com.",
    ]) {
      const bytes = plistlib(
        {
          ...ats({ [key]: { sub: true, pins: [1, 2] } }),
          ...trustKit({ [key]: { TSKPublicKeyHashes: [b64(1), b64(2)], TSKIncludeSubdomains: true } }),
        },
        format,
      );
      // plistlib keeps the key as written: the key iOS (and TrustKit) look up is this string.
      assert.deepEqual(plistlibKeys(bytes, ["NSAppTransportSecurity", "NSPinnedDomains"]), [key]);
      const [atsSource, tkSource] = importFile("Info.plist", bytes).sources;
      for (const s of [atsSource!, tkSource!]) {
        assert.deepEqual(s.domains, [], `${s.platform} ${JSON.stringify(key)}`);
        const [f] = notApplied(s);
        assert.equal(f?.domain, "api.example.com");
        assert.deepEqual(
          compareSources([s]).map((d) => d.field),
          ["spelling"],
        );
      }
      assert.match(
        notApplied(tkSource!)[0]!.message,
        /TrustKit looks the host .* up as an exact dictionary key/,
      );
      assert.match(notApplied(atsSource!)[0]!.message, /not verified/);
    }
  });

  test(`iOS (${format}): two keys for one host stay two entries: only the exact key is imported, nothing merged`, () => {
    const bytes = plistlib(
      {
        ...ats({
          "api.example.com": { sub: false, pins: [1, 2] },
          "API.EXAMPLE.COM.": { sub: true, pins: [3, 4] },
        }),
        ...trustKit({
          "api.example.com": { TSKPublicKeyHashes: [b64(1), b64(2)], TSKExpirationDate: "2027-01-01" },
          "Api.Example.com": {
            TSKPublicKeyHashes: [b64(3), b64(4)],
            TSKEnforcePinning: false,
            TSKIncludeSubdomains: true,
          },
        }),
      },
      format,
    );
    const [atsSource, tkSource] = importFile("Info.plist", bytes).sources;
    assert.deepEqual(
      atsSource!.domains.map((d) => [d.domain, d.includeSubdomains, d.pins.map((p) => p.pin)]),
      [["api.example.com", false, [P(1), P(2)]]],
    );
    // The old, false finding ("imported as includeSubdomains") is gone: nothing was imported from that key.
    assert.ok(!atsSource!.findings.some((f) => /NSIncludesSubdomains/.test(f.message)));
    assert.equal(notApplied(atsSource!).length, 1);
    assert.deepEqual(
      tkSource!.domains.map((d) => [
        d.domain,
        d.includeSubdomains,
        d.mode,
        d.expires,
        d.pins.map((p) => p.pin),
      ]),
      [["api.example.com", false, "enforce", "2026-12-31", [P(1), P(2)]]],
    );
    assert.equal(notApplied(tkSource!).length, 1);
  });
}

test("iOS XML plist: a key written twice in NSPinnedDomains or TSKPinnedDomains is refused (plistlib, the control, keeps the last silently)", () => {
  const entry = (b: number) =>
    `<dict><key>NSPinnedLeafIdentities</key><array><dict><key>SPKI-SHA256-BASE64</key><string>${b64(b)}</string></dict></array></dict>`;
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>NSAppTransportSecurity</key><dict><key>NSPinnedDomains</key><dict>
<key>api.example.com</key>${entry(1)}
<key>api.example.com</key>${entry(3)}
</dict></dict></dict></plist>`;
  const script = `import plistlib, sys
d = plistlib.loads(sys.stdin.buffer.read())["NSAppTransportSecurity"]["NSPinnedDomains"]
print(len(d), d["api.example.com"]["NSPinnedLeafIdentities"][0]["SPKI-SHA256-BASE64"])`;
  const control = spawnSync("python3", ["-c", script], { input: xml });
  assert.equal(String(control.stdout).trim(), `1 ${b64(3)}`);
  assert.throws(
    () => importFile("Info.plist", xml),
    /Info\.plist:4: NSPinnedDomains names the key "api\.example\.com" twice/,
  );
  const tk = xml
    .replace("NSAppTransportSecurity", "TSKConfiguration")
    .replace("NSPinnedDomains", "TSKPinnedDomains")
    .replaceAll(
      /<dict><key>NSPinnedLeafIdentities<\/key><array><dict><key>SPKI-SHA256-BASE64<\/key>(<string>[^<]*<\/string>)<\/dict><\/array><\/dict>/g,
      "<dict><key>TSKPublicKeyHashes</key><array>$1$1</array></dict>",
    );
  assert.throws(
    () => importFile("Info.plist", tk),
    /Info\.plist:4: TSKPinnedDomains names the key "api\.example\.com" twice/,
  );
});

test("a binary plist (bplist-creator) with a trailing-dot key: not imported either", () => {
  const bytes = bplistCreator(ats({ "api.example.com.": { sub: false, pins: [1, 2] } }));
  const [s] = importFile("Info.plist", bytes).sources;
  assert.deepEqual(s!.domains, []);
  assert.equal(notApplied(s!)[0]!.domain, "api.example.com");
});

test("Android debug-overrides: certificates override pins by default there (overridePins defaults to true in debug-overrides)", () => {
  const xml = `<network-security-config>
  <debug-overrides>
    <trust-anchors>
      <certificates src="user" />
      <certificates src="@raw/charles" overridePins="false" />
      <certificates src="@raw/proxy" overridePins="true" />
    </trust-anchors>
  </debug-overrides>
</network-security-config>`;
  const [f] = only(xml, "nsc.xml").findings;
  assert.match(
    f!.message,
    /trusts user \(overriding pins\), @raw\/charles, @raw\/proxy \(overriding pins\); not imported/,
  );
});

test("React Native: a key TrustKit (iOS) or OkHttp (Android) would not apply to the host is not imported; the exact key stays its own entry", () => {
  const ts = `import { initializeSslPinning } from "react-native-ssl-public-key-pinning";
await initializeSslPinning({
  "api.example.com": { includeSubdomains: false, publicKeyHashes: ["${b64(1)}", "${b64(2)}"] },
  "API.Example.com": { includeSubdomains: true, publicKeyHashes: ["${b64(3)}", "${b64(4)}"] },
  "api.example.com.": { includeSubdomains: true, publicKeyHashes: ["${b64(5)}", "${b64(6)}"] },
});
`;
  const source = only(ts, "pinning.ts");
  assert.deepEqual(
    source.domains.map((d) => [d.domain, d.includeSubdomains, d.pins.map((p) => p.pin)]),
    [["api.example.com", false, [P(1), P(2)]]],
  );
  const f = notApplied(source);
  assert.deepEqual(
    f.map((x) => [x.domain, x.place.line]),
    [
      ["api.example.com", 4],
      ["api.example.com", 5],
    ],
  );
  // Capitals: OkHttp lowercases, TrustKit does not; a trailing dot: neither applies it.
  assert.match(f[0]!.message, /on iOS TrustKit looks the host up as an exact key, so/);
  assert.match(f[1]!.message, /on iOS TrustKit .* and on Android OkHttp compares/);
  assert.ok(!source.findings.some((x) => /configured again/.test(x.message)));
  assert.equal(compareSources([source]).filter((d) => d.field === "spelling").length, 2);
});
