// `keypin import`: writes keypin.json from the files an app ships, --merge updates it, --check exits 1 on a
// difference, and a wrong or unreadable file is one line and exit 2.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parsePolicy } from "@keypin/core";
import { exportPolicy } from "@keypin/export";
import { runCli } from "@keypin/testkit";

const fixtures = fileURLToPath(new URL("../../import/test/fixtures/", import.meta.url));
const P = (b: number) => `sha256/${Buffer.alloc(32, b).toString("base64")}`;

/** `keypin import …` through the built bin (the command table lists it), in `dir`. */
function run(dir: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(["import", ...args], { cwd: dir });
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "keypin-import-"));
}

test("writes keypin.json from Android and iOS files, printing what was taken and what was not, with places", async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(fixtures, "nsc-nested.xml"), join(dir, "network_security_config.xml"));
  copyFileSync(join(fixtures, "Info.plist"), join(dir, "Info.plist"));
  const r = await run(dir, ["network_security_config.xml", "Info.plist"]);
  assert.equal(r.code, 0, r.stderr);
  const written = JSON.parse(readFileSync(join(dir, "keypin.json"), "utf8"));
  const { policy } = parsePolicy(written); // a valid policy
  const api = policy.domains.find((d) => d.domain === "api.myapp.com")!;
  assert.deepEqual(api.pins.map((p) => p.pin).sort(), [P(1), P(2), P(3)].sort()); // the union: nobody locked out
  assert.equal(api.expires, "2026-12-31"); // from Android, the first file that can say it
  assert.match(
    r.stderr,
    /took api\.myapp\.com \(2 pins, includeSubdomains, expires 2026-12-31\) at network_security_config\.xml:17/,
  );
  assert.match(r.stderr, /not carried over: network_security_config\.xml:53: debug-overrides/);
  assert.match(
    r.stderr,
    /difference: api\.myapp\.com: iOS ATS \(Info\.plist:29\) pins sha256\/AwMD[^;]*; Android \(network_security_config\.xml:17\), TrustKit \(Info\.plist:42\) do not/,
  );
  assert.match(r.stderr, /wrote keypin\.json/);
  // A second import without --merge does not overwrite it.
  const again = await run(dir, ["Info.plist"]);
  assert.equal(again.code, 2);
  assert.equal(again.stderr.trim().split("\n").length, 1);
  assert.match(again.stderr, /^keypin: keypin\.json already exists: pass --merge/);
});

test("--merge keeps keypin.json's entries and labels and adds the imported pins and domains", async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "keypin.json"),
    JSON.stringify({
      domains: { "api.myapp.com": { pins: [{ pin: P(1), role: "leaf", label: "server key" }, P(5)] } },
    }),
  );
  copyFileSync(join(fixtures, "Pinning.kt"), join(dir, "Pinning.kt"));
  const r = await run(dir, ["--merge", "Pinning.kt"]);
  assert.equal(r.code, 0, r.stderr);
  const written = JSON.parse(readFileSync(join(dir, "keypin.json"), "utf8"));
  assert.deepEqual(written.domains["api.myapp.com"].pins, [
    { pin: P(1), role: "leaf", label: "server key" },
    P(5),
    P(2),
  ]);
  assert.ok(written.domains["cdn.myapp.com"]);
  assert.match(r.stderr, /not carried over: Pinning\.kt:21: the pattern of add\(BuildConfig\.API_HOST/);
});

test("--check exits 0 when the files and keypin.json agree, 1 naming the pin and both places when they do not", async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = {
    domains: {
      "api.myapp.com": {
        includeSubdomains: true,
        pins: [
          { pin: P(1), role: "leaf" },
          { pin: P(2), role: "backup" },
        ],
      },
    },
  };
  const { policy } = parsePolicy(file);
  writeFileSync(join(dir, "keypin.json"), JSON.stringify(file));
  writeFileSync(join(dir, "nsc.xml"), exportPolicy(policy, "android-nsc").content);
  writeFileSync(join(dir, "Pinning.kt"), exportPolicy(policy, "okhttp-kotlin").content);
  const ok = await run(dir, ["--check", "nsc.xml", "Pinning.kt"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /2 files and keypin\.json pin the same/);

  // iOS drifts: its backup pin is another key.
  const drifted = parsePolicy({
    domains: {
      "api.myapp.com": {
        includeSubdomains: true,
        pins: [
          { pin: P(1), role: "leaf" },
          { pin: P(3), role: "backup" },
        ],
      },
    },
  });
  writeFileSync(
    join(dir, "Info.plist"),
    exportPolicy(drifted.policy, "ios-ats", { allowLossy: true }).content,
  );
  const bad = await run(dir, ["--check", "nsc.xml", "Info.plist"]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(
    bad.stderr,
    /difference: api\.myapp\.com: keypin\.json, Android \(nsc\.xml:\d+\) pin sha256\/AgIC[^;]*; iOS ATS \(Info\.plist:\d+\) does not/,
  );
  assert.match(
    bad.stderr,
    /difference: api\.myapp\.com: iOS ATS \(Info\.plist:\d+\) pins sha256\/AwMD[^;]*; keypin\.json, Android \(nsc\.xml:\d+\) do not/,
  );
  assert.match(bad.stderr, /keypin: 2 differences between keypin\.json, nsc\.xml, Info\.plist\n$/);
  // iOS ATS cannot express an expiry: an expiry in keypin.json alone is not a difference with it.
  assert.ok(!/expires/.test(bad.stderr));
  assert.ok(!existsSync(join(dir, "keypin.json.tmp")));
});

test("a wrong or unreadable file is one line on stderr and exit 2, without a stack", async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "broken.xml"),
    "<network-security-config>\n  <domain-config>\n</network-security-config>\n",
  );
  writeFileSync(join(dir, "notes.txt"), "hello");
  writeFileSync(join(dir, "Info.plist"), "bplist00garbage");
  const cases: [string[], RegExp][] = [
    [["broken.xml"], /^keypin: broken\.xml:3: not well-formed XML/],
    [["notes.txt"], /^keypin: notes\.txt: not a format keypin imports/],
    [["Info.plist"], /^keypin: Info\.plist: not a readable binary plist/],
    [["missing.xml"], /^keypin: missing\.xml: no such file/],
    [["--check", "missing.kt"], /^keypin: missing\.kt: no such file/],
    [[], /^keypin: `keypin import` needs at least one file/],
  ];
  const results = await Promise.all(cases.map(([args]) => run(dir, args)));
  cases.forEach(([args, message], i) => {
    const r = results[i]!;
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
  });
  assert.ok(!existsSync(join(dir, "keypin.json")));
});

test("--json prints the sources and differences as one object", async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(fixtures, "pinning.ts"), join(dir, "pinning.ts"));
  const r = await run(dir, ["--json", "--out", "out/keypin.json", "pinning.ts"]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.wrote, "out/keypin.json");
  assert.deepEqual(
    report.sources[0].domains.map((d: { domain: string }) => d.domain),
    ["api.myapp.com", "cdn.myapp.com"],
  );
  assert.ok(existsSync(join(dir, "out/keypin.json")));
});

test("--check fails (exit 1) when a file names the host in a spelling its platform never applies (review 2, finding 1); the import says 'not applied'", async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = {
    domains: {
      "api.example.com": {
        includeSubdomains: true,
        pins: [
          { pin: P(1), role: "leaf" },
          { pin: P(2), role: "backup" },
        ],
      },
    },
  };
  const { policy } = parsePolicy(file);
  const nsc = exportPolicy(policy, "android-nsc").content;
  writeFileSync(join(dir, "good.xml"), nsc);
  writeFileSync(join(dir, "Info.plist"), exportPolicy(policy, "ios-ats", { allowLossy: true }).content);
  // The control: the platforms' own spellings agree.
  const ok = await run(dir, ["--check", "good.xml", "Info.plist"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /2 files pin the same/);
  for (const spelling of ["api.example.com.", "api\uff0eexample\u3002com"]) {
    assert.ok(nsc.includes(">api.example.com</domain>"));
    writeFileSync(join(dir, "nsc.xml"), nsc.replace(">api.example.com</domain>", `>${spelling}</domain>`));
    const bad = await run(dir, ["--check", "nsc.xml", "Info.plist"]);
    assert.equal(bad.code, 1, `${spelling}: ${bad.stdout}${bad.stderr}`);
    assert.match(
      bad.stderr,
      /difference: api\.example\.com: Android \(nsc\.xml:\d+\): <domain> holds .* never applies this entry's pins to api\.example\.com, which is not pinned on Android/,
    );
    assert.match(bad.stderr, /iOS ATS \(Info\.plist:\d+\) pins? it; Android \(nsc\.xml\) does not/);
    // Alone, too: nothing else to compare with, and still a failure.
    const alone = await run(dir, ["--check", "nsc.xml"]);
    assert.equal(alone.code, 1, alone.stderr);
  }
  const written = await run(dir, ["--out", "imported.json", "nsc.xml", "Info.plist"]);
  assert.equal(written.code, 0, written.stderr);
  assert.match(written.stderr, /not applied by Android: nsc\.xml:\d+: <domain> holds/);
  // Only the iOS entry's pins: nothing is credited to Android.
  assert.match(written.stderr, /took api\.example\.com .* at Info\.plist/);
  assert.doesNotMatch(written.stderr, /took api\.example\.com .* at nsc\.xml/);
});
