// Review 2, finding 3: the app's Info.plist already has NSPinnedDomains entries. For every host of the
// policy, in any spelling iOS might read as the same host (case, trailing dots, surrounding spaces,
// full-width dots, Unicode), the old entry is replaced or removed and the plugin says so; entries for other
// hosts are kept and listed. Run through @expo/config-plugins' mod compiler on a real Info.plist, which
// python3's plistlib then reads (the outside oracle for what iOS would load).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, mock } from "node:test";
import { compileModsAsync, type ExportedConfig } from "@expo/config-plugins";
import plist from "@expo/plist";
import withKeypin from "@keypin/expo";

const pin = (n: number) => `sha256/${Buffer.alloc(32, n).toString("base64")}`;
const b64 = (n: number) => Buffer.alloc(32, n).toString("base64");
const OLD = b64(9);

function project(
  policy: unknown,
  pinned: Record<string, unknown>,
): { root: string; [Symbol.dispose](): void } {
  const root = mkdtempSync(join(tmpdir(), "keypin-expo-existing-"));
  mkdirSync(join(root, "ios", "demo"), { recursive: true });
  const info = {
    CFBundleName: "demo",
    NSAppTransportSecurity: { NSAllowsArbitraryLoads: false, NSPinnedDomains: pinned },
  };
  writeFileSync(join(root, "ios", "demo", "Info.plist"), plist.default.build(info as never));
  writeFileSync(join(root, "keypin.json"), JSON.stringify(policy));
  writeFileSync(
    join(root, "package.json"),
    JSON.stringify({ name: "demo", version: "1.0.0", private: true }),
  );
  return { root, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}

/** Runs the iOS mods; returns the NSPinnedDomains python's plistlib reads back and the plugin's warnings. */
async function prebuild(
  root: string,
  options: Record<string, unknown> = {},
): Promise<{
  pinned: Record<string, { NSIncludesSubdomains: boolean; [k: string]: unknown }>;
  warnings: string[];
}> {
  const warnings: string[] = [];
  const warn = mock.method(console, "warn", (...args: unknown[]) => {
    warnings.push(args.map(String).join(" "));
  });
  try {
    const config = withKeypin(
      { name: "demo", slug: "demo", _internal: { projectRoot: root } } as ExportedConfig,
      { policy: "./keypin.json", platforms: ["ios"], ...options },
    ) as ExportedConfig;
    await compileModsAsync(config, {
      projectRoot: root,
      platforms: ["ios"],
      assertMissingModProviders: true,
    });
  } finally {
    warn.mock.restore();
  }
  const read = execFileSync(
    "python3",
    [
      "-c",
      "import sys, json, plistlib; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))['NSAppTransportSecurity']['NSPinnedDomains']))",
      join(root, "ios", "demo", "Info.plist"),
    ],
    { encoding: "utf8" },
  );
  // Strip chalk's colours from the warnings.
  return { pinned: JSON.parse(read), warnings: warnings.map((w) => w.replace(/\u001b\[[0-9;]*m/g, "")) };
}

const oldEntry = (includeSubdomains = false) => ({
  NSIncludesSubdomains: includeSubdomains,
  NSPinnedLeafIdentities: [{ "SPKI-SHA256-BASE64": OLD }],
});
const enforced = {
  pins: [
    { pin: pin(1), role: "leaf" },
    { pin: pin(2), role: "backup" },
  ],
};

describe("@keypin/expo and the app's existing NSPinnedDomains (review 2, finding 3)", () => {
  it("removes the old enforced entry of a host the policy makes report-only, and says so (the review's case)", async () => {
    using p = project(
      {
        domains: {
          "api.example.com": { ...enforced, mode: "report-only" },
          "cdn.example.com": enforced,
        },
      },
      { "api.example.com": oldEntry(), "CDN.example.com.": oldEntry(true) },
    );
    const { pinned, warnings } = await prebuild(p.root, { allowLossy: true });
    assert.deepEqual(Object.keys(pinned), ["cdn.example.com"], "no old entry survives, in any spelling");
    assert.deepEqual(pinned["cdn.example.com"], {
      NSIncludesSubdomains: false,
      NSPinnedLeafIdentities: [{ "SPKI-SHA256-BASE64": b64(1) }, { "SPKI-SHA256-BASE64": b64(2) }],
    });
    const removed = warnings.find((w) => w.includes("Removed the app's existing NSPinnedDomains"));
    assert.ok(removed, warnings.join("\n"));
    assert.match(removed, /"api\.example\.com": keypin\.json leaves api\.example\.com unpinned on iOS/);
    assert.match(removed, /"CDN\.example\.com\.": replaced by keypin\.json's entry for cdn\.example\.com/);
  });

  it("removes every spelling of a policy host iOS might read as the same one: case, trailing dots, spaces, full-width dots, Unicode", async () => {
    const spellings = [
      "API.EXAMPLE.COM",
      "api.example.com..",
      " api.example.com ",
      "api\uff0eexample\u3002com",
      "Api.Example.Com.",
    ];
    using p = project(
      { domains: { "api.example.com": enforced, "xn--bcher-kva.example": enforced } },
      { ...Object.fromEntries(spellings.map((s) => [s, oldEntry()])), "B\u00fccher.example.": oldEntry() },
    );
    const { pinned, warnings } = await prebuild(p.root);
    assert.deepEqual(Object.keys(pinned).sort(), ["api.example.com", "xn--bcher-kva.example"]);
    assert.equal(JSON.stringify(pinned).includes(OLD), false, "no old pin is left");
    const removed = warnings.find((w) => w.includes("Removed")) ?? "";
    for (const s of [...spellings, "B\u00fccher.example."]) assert.ok(removed.includes(JSON.stringify(s)), s);
  });

  it("removes the old entry of a host the policy leaves out of ATS for another reason (an IP address, in another spelling)", async () => {
    using p = project(
      { domains: { "10.0.0.1": enforced, "api.example.com": enforced } },
      { "10.0.0.1.": oldEntry(), "api.example.com": oldEntry() },
    );
    const { pinned, warnings } = await prebuild(p.root, { allowLossy: true });
    assert.deepEqual(Object.keys(pinned), ["api.example.com"]);
    assert.match(warnings.join("\n"), /"10\.0\.0\.1\.": keypin\.json leaves 10\.0\.0\.1 unpinned on iOS/);
  });

  it("keeps entries for hosts the policy does not name, and lists them", async () => {
    using p = project(
      { domains: { "api.example.com": enforced } },
      {
        "other.example.org": oldEntry(),
        "v2.api.example.com": oldEntry(),
        "example.com": oldEntry(false),
        ["__proto__"]: oldEntry(),
      },
    );
    const { pinned, warnings } = await prebuild(p.root);
    assert.deepEqual(Object.keys(pinned).sort(), [
      "__proto__",
      "api.example.com",
      "example.com",
      "other.example.org",
      "v2.api.example.com",
    ]);
    assert.deepEqual(pinned["other.example.org"], oldEntry());
    const kept = warnings.find((w) => w.includes("Kept the app's existing NSPinnedDomains")) ?? "";
    for (const k of ["other.example.org", "v2.api.example.com", "example.com", "__proto__"])
      assert.ok(kept.includes(JSON.stringify(k)), `${k} listed: ${kept}`);
    assert.equal(
      warnings.some((w) => w.includes("Removed")),
      false,
      "nothing was removed",
    );
  });

  it("refuses an existing parent entry with NSIncludesSubdomains that would pin a host the policy leaves unpinned on iOS", async () => {
    using p = project(
      { domains: { "api.example.com": { ...enforced, mode: "report-only" } } },
      { "Example.com": oldEntry(true) },
    );
    await assert.rejects(prebuild(p.root, { allowLossy: true }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "ERR_KEYPIN_EXPO_CONFLICT");
      assert.match(e.message, /"Example\.com" with NSIncludesSubdomains, which covers api\.example\.com/);
      assert.match(e.message, /Add example\.com to keypin\.json/);
      return true;
    });
  });

  it("keeps a parent entry whose NSIncludesSubdomains does not reach the left-out host (two labels below, or false)", async () => {
    using p = project(
      { domains: { "a.b.example.com": { ...enforced, mode: "report-only" } } },
      { "example.com": oldEntry(true), "b.example.com": oldEntry(false) },
    );
    const { pinned } = await prebuild(p.root, { allowLossy: true });
    assert.deepEqual(Object.keys(pinned).sort(), ["b.example.com", "example.com"]);
  });
});
