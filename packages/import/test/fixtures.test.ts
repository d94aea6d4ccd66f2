// Real-world shapes (see the report of issue 18 for the public files they were drawn from), each imported
// without a crash, with what was taken and what was not carried over placed at file:line.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatPlace, ImportError, type ImportedSource, importFile } from "@keypin/import";
import bplistCreator from "bplist-creator";

const fixture = (name: string) => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));
const P1 = `sha256/${Buffer.alloc(32, 1).toString("base64")}`;
const P2 = `sha256/${Buffer.alloc(32, 2).toString("base64")}`;
const P3 = `sha256/${Buffer.alloc(32, 3).toString("base64")}`;

function load(name: string): ImportedSource[] {
  return importFile(name, readFileSync(fixture(name))).sources;
}
const summary = (s: ImportedSource) =>
  s.domains.map((d) => ({
    domain: d.domain,
    sub: d.includeSubdomains,
    pins: d.pins.map((p) => p.pin),
    expires: d.expires,
    mode: d.mode,
    reportUris: d.reportUris,
    line: d.place.line,
  }));
const messages = (s: ImportedSource) =>
  s.findings.map((f) => `${f.kind} ${formatPlace(f.place)} ${f.message}`);

test("Android: nested domain-configs inherit the pin-set, several domains share one, entities and comments are read", () => {
  const [nsc] = load("nsc-nested.xml");
  assert.deepEqual(summary(nsc!), [
    {
      domain: "api.myapp.com",
      sub: true,
      pins: [P1, P2],
      expires: "2026-12-31",
      mode: "enforce",
      reportUris: [],
      line: 17,
    },
    {
      domain: "legacy.api.myapp.com",
      sub: false,
      pins: [P1, P2],
      expires: "2026-12-31",
      mode: "enforce",
      reportUris: [],
      line: 27,
    },
    {
      domain: "cdn.myapp.com",
      sub: false,
      pins: [P3, P2],
      expires: undefined,
      mode: "enforce",
      reportUris: [],
      line: 30,
    },
    {
      domain: "reports.myapp.com",
      sub: true,
      pins: [P1, P3],
      expires: undefined,
      mode: "enforce",
      reportUris: ["https://reports.myapp.com/pin-failure"],
      line: 44,
    },
  ]);
  const m = messages(nsc!);
  assert.equal(m.length, 4);
  // Android keeps "static.myapp.com." (trimmed, lowercased) and compares it with equals to the host without its
  // trailing dot: it never pins static.myapp.com, so keypin does not import it as pinned (review 2, finding 1).
  assert.match(
    m[0]!,
    /^not-applied nsc-nested\.xml:18 <domain> holds "Static\.MyApp\.com\.", with a trailing dot: .*never applies this entry's pins to static\.myapp\.com/,
  );
  assert.match(m[1]!, /^dropped nsc-nested\.xml:36 overridePins="true" on "@raw\/corp_ca"/);
  assert.match(m[2]!, /^changed nsc-nested\.xml:49 <trustkit-config enforcePinning="false">/);
  assert.match(m[3]!, /^dropped nsc-nested\.xml:53 debug-overrides .* not imported/);
});

test("iOS: one Info.plist gives ATS and TrustKit; the narrower and wider meanings are said, TrustKit's expiry converted", () => {
  const [ats, trustKit] = load("Info.plist");
  assert.equal(ats!.platform, "iOS ATS");
  assert.deepEqual(summary(ats!), [
    {
      domain: "api.myapp.com",
      sub: true,
      pins: [P1, P3],
      expires: undefined,
      mode: "enforce",
      reportUris: [],
      line: 15,
    },
  ]);
  assert.deepEqual(
    ats!.domains[0]!.pins.map((p) => p.role),
    ["leaf", "intermediate"],
  );
  assert.ok(messages(ats!).some((m) => /NSIncludesSubdomains covers one more label only/.test(m)));
  assert.ok(messages(ats!).some((m) => /ATS requires a match in each category/.test(m)));
  assert.equal(trustKit!.platform, "TrustKit");
  assert.deepEqual(summary(trustKit!), [
    {
      domain: "api.myapp.com",
      sub: true,
      pins: [P1, P2],
      expires: "2026-12-31",
      mode: "report-only",
      reportUris: ["https://reports.myapp.com/pin-failure"],
      line: 42,
    },
  ]);
  assert.match(
    messages(trustKit!)[0]!,
    /^dropped Info\.plist:60 old\.myapp\.com has TSKExcludeSubdomainFromParentPolicy/,
  );
});

test("a binary plist (written by bplist-creator) imports the same domains, placed by key path", () => {
  const bytes = bplistCreator({
    CFBundleName: "App",
    NSAppTransportSecurity: {
      NSPinnedDomains: {
        "api.myapp.com": {
          NSIncludesSubdomains: false,
          NSPinnedLeafIdentities: [
            { "SPKI-SHA256-BASE64": P1.slice(7) },
            { "SPKI-SHA256-BASE64": P2.slice(7) },
          ],
        },
      },
    },
    TSKConfiguration: {
      TSKPinnedDomains: {
        "api.myapp.com": { TSKPublicKeyHashes: [P1.slice(7), P2.slice(7)], TSKExpirationDate: "2028-03-01" },
      },
    },
  });
  assert.equal(bytes.subarray(0, 8).toString("latin1"), "bplist00");
  const [ats, trustKit] = importFile("ios/App/Info.plist", bytes).sources;
  assert.deepEqual(
    ats!.domains.map((d) => [d.domain, d.includeSubdomains, d.pins.map((p) => p.pin)]),
    [["api.myapp.com", false, [P1, P2]]],
  );
  assert.equal(
    formatPlace(ats!.domains[0]!.place),
    "ios/App/Info.plist (/NSAppTransportSecurity/NSPinnedDomains/api.myapp.com)",
  );
  assert.equal(trustKit!.domains[0]!.expires, "2028-02-29");
  assert.equal(trustKit!.domains[0]!.mode, "enforce");
});

test("OkHttp Kotlin: constants, arrays with spread, templates, apply blocks and builder variables; the rest is reported with its line", () => {
  const [kt] = load("Pinning.kt");
  assert.deepEqual(
    kt!.domains.map((d) => [d.domain, d.includeSubdomains, d.pins.map((p) => p.pin), d.place.line]),
    [
      ["api.myapp.com", true, [P1, P2], 18],
      ["cdn.myapp.com", true, [P3, P2], 20],
      ["raw.myapp.com", false, [P1, P2], 27],
      ["apply.myapp.com", false, [P1, P2], 30],
    ],
  );
  const m = messages(kt!);
  assert.ok(
    m.some((x) => /^unreadable Pinning\.kt:21 the pattern of add\(BuildConfig\.API_HOST/.test(x)),
    m.join("\n"),
  );
  assert.ok(m.some((x) => /^dropped Pinning\.kt:22 .*SHA-1 pin/.test(x)));
  assert.ok(
    m.some((x) =>
      /^unreadable Pinning\.kt:29 a pin for "loop\.myapp\.com" cannot be read statically/.test(x),
    ),
  );
  assert.ok(
    m.some((x) => /^unreadable Pinning\.kt:29 the pin "sha256\/BAQE.*is not in a CertificatePinner/.test(x)),
  );
  assert.ok(m.some((x) => /^changed Pinning\.kt:20 \*\.cdn\.myapp\.com pins hosts one label below/.test(x)));
  assert.ok(
    m.some((x) => /^changed Pinning\.kt:18 api\.myapp\.com and its subdomains have different pins/.test(x)),
  );
  // The pin-looking text inside a nested block comment is not read.
  assert.ok(!m.some((x) => x.includes("not-a-pin")));
});

test("OkHttp Java (parsed by java-parser): static final constants, String[] varargs, **. patterns, a builder variable", () => {
  const [java] = load("PinningConfig.java");
  assert.deepEqual(
    java!.domains.map((d) => [d.domain, d.includeSubdomains, d.pins.map((p) => p.pin)]),
    [
      ["api.myapp.com", true, [P1, P2]],
      ["cdn.myapp.com", false, [P3, P1]],
    ],
  );
  const m = messages(java!);
  assert.equal(m.length, 1, m.join("\n"));
  assert.match(m[0]!, /^unreadable PinningConfig\.java:16 the pattern of add\(System\.getenv/);
});

test("React Native (parsed by @babel/parser): computed keys from consts, spreads, templates, satisfies; placeholders are dropped", () => {
  const [rn] = load("pinning.ts");
  assert.deepEqual(summary(rn!), [
    {
      domain: "api.myapp.com",
      sub: true,
      pins: [P1, P2],
      expires: "2026-12-31",
      mode: "enforce",
      reportUris: [],
      line: 11,
    },
    {
      domain: "cdn.myapp.com",
      sub: false,
      pins: [P3, P2],
      expires: undefined,
      mode: "enforce",
      reportUris: [],
      line: 16,
    },
  ]);
  assert.ok(messages(rn!).some((x) => /^dropped pinning\.ts:20 "-------" is not a SHA-256 pin/.test(x)));
  assert.ok(messages(rn!).some((x) => /^dropped pinning\.ts:19 placeholder\.myapp\.com has no pins/.test(x)));
});

test("a wrong or unreadable file is one ImportError whose message starts with the place", () => {
  const cases: [string, string | Uint8Array, RegExp][] = [
    [
      "network_security_config.xml",
      "<network-security-config><domain-config></network-security-config>",
      /^network_security_config\.xml:1: not well-formed XML/,
    ],
    [
      "x.xml",
      '<network-security-config>\n<domain-config>\n<domain>a.com</domain>\n<pin-set><pin digest="SHA-1">AAAA</pin></pin-set>\n</domain-config></network-security-config>',
      /^x\.xml:4: <pin digest="SHA-1">/,
    ],
    [
      "x.xml",
      '<network-security-config><domain-config><domain>a.com</domain><pin-set expiration="2027-02-30"><pin digest="SHA-256">AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=</pin></pin-set></domain-config></network-security-config>',
      /expiration="2027-02-30" is not a yyyy-MM-dd date/,
    ],
    [
      "Info.plist",
      "<plist><dict><key>CFBundleName</key><string>x</string></dict></plist>",
      /^Info\.plist:1: this plist has neither/,
    ],
    [
      "Info.plist",
      new Uint8Array([...Buffer.from("bplist00"), 1, 2, 3]),
      /^Info\.plist: not a readable binary plist/,
    ],
    [
      "Pinning.kt",
      'val x = "unterminated\n',
      /^Pinning\.kt:1: not readable as Kotlin: an unterminated string/,
    ],
    ["Pinning.java", "class A {\n  void f( {\n}", /^Pinning\.java:2: not readable as Java/],
    ["pins.ts", "initializeSslPinning({ a: }", /^pins\.ts:1: not readable as JavaScript/],
    ["pins.js", "export const x = 1;", /no initializeSslPinning/],
    ["README.md", "# hello", /^README\.md: not a format keypin imports/],
  ];
  for (const [file, content, message] of cases) {
    assert.throws(
      () => importFile(file, content),
      (e: unknown) =>
        e instanceof ImportError &&
        e.code === "ERR_KEYPIN_IMPORT" &&
        message.test(e.message) &&
        !e.message.includes("\n"),
      `${file}: ${String(content).slice(0, 40)}`,
    );
  }
});
