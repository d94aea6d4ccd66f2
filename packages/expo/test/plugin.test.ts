// The plugin runs through @expo/config-plugins' own mod compiler (compileModsAsync) on a temporary
// project folder with a real AndroidManifest.xml and Info.plist, and is loaded the way Expo loads it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { compileModsAsync, type ExportedConfig } from "@expo/config-plugins";
import plist from "@expo/plist";
import { parsePolicy, pinToBase64 } from "@keypin/core";
import withKeypin from "@keypin/expo";
import { exportPolicy } from "@keypin/export";
import { makePki } from "@keypin/testkit";
import { XMLParser } from "fast-xml-parser";

const repoRoot = new URL("../../../", import.meta.url).pathname;
const pin = (n: number) => `sha256/${Buffer.alloc(32, n).toString("base64")}`;

const manifest = `<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android">
  <uses-permission android:name="android.permission.INTERNET"/>
  <application android:name=".MainApplication" android:label="@string/app_name" android:allowBackup="false">
    <activity android:name=".MainActivity" android:exported="true"/>
  </application>
</manifest>
`;

const infoPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleName</key>
  <string>demo</string>
  <key>NSAppTransportSecurity</key>
  <dict>
    <key>NSAllowsArbitraryLoads</key>
    <false/>
  </dict>
</dict>
</plist>
`;

const policyJson = {
  domains: {
    "api.myapp.com": {
      pins: [
        { pin: pin(1), role: "leaf" },
        { pin: pin(2), role: "backup" },
      ],
    },
    "cdn.myapp.com": {
      pins: [
        { pin: pin(3), role: "intermediate" },
        { pin: pin(4), role: "root" },
      ],
    },
  },
};

/** A debugging proxy's CA made by openssl in `dir` (export's test PKI): its certificate and its private key, as PEM. */
function makeProxyCa(dir: string): { certificate: string; key: string } {
  const pki = makePki(dir, ["api.myapp.com"]);
  return { certificate: pki.caPem, key: readFileSync(join(dir, "ca.key"), "utf8") };
}

function makeProject(policy: unknown): { root: string; [Symbol.dispose](): void } {
  const root = mkdtempSync(join(tmpdir(), "keypin-expo-"));
  mkdirSync(join(root, "android", "app", "src", "main"), { recursive: true });
  writeFileSync(join(root, "android", "app", "src", "main", "AndroidManifest.xml"), manifest);
  mkdirSync(join(root, "ios", "demo"), { recursive: true });
  writeFileSync(join(root, "ios", "demo", "Info.plist"), infoPlist);
  writeFileSync(join(root, "keypin.json"), JSON.stringify(policy, null, 2));
  writeFileSync(
    join(root, "package.json"),
    JSON.stringify({ name: "demo", version: "1.0.0", private: true }),
  );
  return { root, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}

function baseConfig(root: string): ExportedConfig {
  return { name: "demo", slug: "demo", _internal: { projectRoot: root } } as ExportedConfig;
}

async function prebuild(root: string, config: ExportedConfig): Promise<void> {
  await compileModsAsync(config, {
    projectRoot: root,
    platforms: ["android", "ios"],
    assertMissingModProviders: true,
  });
}

function readResults(root: string) {
  const main = join(root, "android", "app", "src", "main");
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@" });
  const manifestDoc = parser.parse(readFileSync(join(main, "AndroidManifest.xml"), "utf8"));
  const nscPath = join(main, "res", "xml", "network_security_config.xml");
  const nsc = existsSync(nscPath) ? readFileSync(nscPath, "utf8") : undefined;
  const info = plist.default.parse(readFileSync(join(root, "ios", "demo", "Info.plist"), "utf8")) as Record<
    string,
    unknown
  >;
  return { application: manifestDoc.manifest.application as Record<string, unknown>, nsc, info, main };
}

describe("@keypin/expo through @expo/config-plugins' mod compiler", () => {
  it("writes the network security config, the manifest attribute and NSPinnedDomains from keypin.json", async () => {
    using project = makeProject(policyJson);
    const config = withKeypin(baseConfig(project.root), { policy: "./keypin.json" }) as ExportedConfig;
    await prebuild(project.root, config);
    const { application, nsc, info } = readResults(project.root);

    assert.equal(application["@android:networkSecurityConfig"], "@xml/network_security_config");
    assert.equal(application["@android:allowBackup"], "false", "other manifest attributes stay");
    const policy = parsePolicy(policyJson).policy;
    const expected = exportPolicy(policy, "android-nsc", {
      source: "keypin.json",
      regenerate: "npx expo prebuild (written by the @keypin/expo config plugin from the policy)",
    });
    assert.equal(nsc, expected.content, "the XML is exactly what the android-nsc exporter writes");
    assert.match(nsc ?? "", /<pin digest="SHA-256">AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=<\/pin>/);

    assert.equal(info.CFBundleName, "demo", "other Info.plist keys stay");
    const ats = info.NSAppTransportSecurity as Record<string, unknown>;
    assert.equal(ats.NSAllowsArbitraryLoads, false, "other ATS keys stay");
    // @expo/plist makes null-prototype objects; compare plain copies.
    assert.deepEqual(JSON.parse(JSON.stringify(ats.NSPinnedDomains)), {
      "api.myapp.com": {
        NSIncludesSubdomains: false,
        NSPinnedLeafIdentities: [
          { "SPKI-SHA256-BASE64": pinToBase64(pin(1) as never) },
          { "SPKI-SHA256-BASE64": pinToBase64(pin(2) as never) },
        ],
      },
      "cdn.myapp.com": {
        NSIncludesSubdomains: false,
        NSPinnedCAIdentities: [
          { "SPKI-SHA256-BASE64": pinToBase64(pin(3) as never) },
          { "SPKI-SHA256-BASE64": pinToBase64(pin(4) as never) },
        ],
      },
    });
  });

  it("fails the prebuild on a policy iOS cannot express, naming the field and the platform", async () => {
    const lossy = {
      domains: { ...policyJson.domains, "beta.other.com": { pins: [pin(5), pin(6)], mode: "report-only" } },
    };
    using project = makeProject(lossy);
    const config = withKeypin(baseConfig(project.root), { policy: "./keypin.json" }) as ExportedConfig;
    await assert.rejects(prebuild(project.root, config), (error: Error & { code?: string }) => {
      assert.equal(error.code, "ERR_KEYPIN_LOSSY_EXPORT");
      assert.match(error.message, /\/domains\/beta\.other\.com\/mode/);
      return true;
    });
  });

  it("with allowLossy, writes the report-only domain unpinned and lists the difference in the files", async () => {
    const lossy = {
      domains: { ...policyJson.domains, "beta.other.com": { pins: [pin(5), pin(6)], mode: "report-only" } },
    };
    using project = makeProject(lossy);
    const config = withKeypin(baseConfig(project.root), {
      policy: "./keypin.json",
      allowLossy: true,
    }) as ExportedConfig;
    await prebuild(project.root, config);
    const { nsc, info } = readResults(project.root);
    assert.match(nsc ?? "", /\/domains\/beta\.other\.com\/mode: Android has no report-only mode/);
    const pinned = (info.NSAppTransportSecurity as Record<string, Record<string, unknown>>).NSPinnedDomains!;
    assert.deepEqual(Object.keys(pinned).sort(), ["api.myapp.com", "cdn.myapp.com"]);
  });

  it("with debugProxyCa, copies the CA to res/raw and trusts it in debug-overrides only", async () => {
    using project = makeProject(policyJson);
    const caPem = makeProxyCa(project.root).certificate;
    writeFileSync(join(project.root, "Proxy CA.pem"), caPem);
    const config = withKeypin(baseConfig(project.root), {
      policy: "./keypin.json",
      debugProxyCa: "./Proxy CA.pem",
      platforms: ["android"],
    }) as ExportedConfig;
    await prebuild(project.root, config);
    const { nsc, main, info } = readResults(project.root);
    assert.equal(readFileSync(join(main, "res", "raw", "proxy_ca.pem"), "utf8"), caPem);
    assert.match(
      nsc ?? "",
      /<debug-overrides>\s*<trust-anchors>\s*<certificates src="@raw\/proxy_ca" overridePins="true"\/>/,
    );
    assert.equal(
      (info.NSAppTransportSecurity as Record<string, unknown>).NSPinnedDomains,
      undefined,
      "ios not asked",
    );
  });

  it("refuses a debugProxyCa file that holds the CA's private key, and copies nothing", async () => {
    using project = makeProject(policyJson);
    const { certificate, key } = makeProxyCa(project.root);
    writeFileSync(join(project.root, "mitmproxy-ca.pem"), key + certificate); // mitmproxy's key + cert file
    const config = withKeypin(baseConfig(project.root), {
      policy: "./keypin.json",
      debugProxyCa: "./mitmproxy-ca.pem",
      platforms: ["android"],
    }) as ExportedConfig;
    await assert.rejects(prebuild(project.root, config), {
      code: "ERR_KEYPIN_EXPORT_OPTION",
      message: /"debugProxyCa" \.\/mitmproxy-ca\.pem holds a private key.*mitmproxy-ca-cert\.pem/,
    });
    const { main } = readResults(project.root);
    assert.equal(existsSync(join(main, "res", "raw")), false, "nothing copied into the app");
    assert.equal(existsSync(join(main, "res", "xml", "network_security_config.xml")), false);
  });

  it("keeps cleartext as the manifests had it: base-config from the main one, a debug-only copy from the debug one", async () => {
    using project = makeProject(policyJson);
    const src = join(project.root, "android", "app", "src");
    mkdirSync(join(src, "debug"), { recursive: true });
    writeFileSync(
      join(src, "debug", "AndroidManifest.xml"),
      '<manifest xmlns:android="http://schemas.android.com/apk/res/android"><application android:usesCleartextTraffic="true"/></manifest>\n',
    );
    const config = withKeypin(baseConfig(project.root), {
      policy: "./keypin.json",
      platforms: ["android"],
    }) as ExportedConfig;
    await prebuild(project.root, config);
    const main = readFileSync(join(src, "main", "res", "xml", "network_security_config.xml"), "utf8");
    const debug = readFileSync(join(src, "debug", "res", "xml", "network_security_config.xml"), "utf8");
    assert.doesNotMatch(main, /<base-config/, "release keeps Android's default (no cleartext from API 28)");
    assert.match(
      debug,
      /<base-config cleartextTrafficPermitted="true"\/>/,
      "debug builds can still reach Metro over http",
    );
    const pinsOf = (xml: string) =>
      [...xml.matchAll(/<pin digest="SHA-256">([^<]+)<\/pin>/g)].map((m) => m[1]);
    assert.deepEqual(pinsOf(debug), pinsOf(main), "the debug copy pins the same keys");

    using second = makeProject(policyJson);
    const manifestPath = join(second.root, "android", "app", "src", "main", "AndroidManifest.xml");
    writeFileSync(
      manifestPath,
      manifest.replace("<application ", '<application android:usesCleartextTraffic="true" '),
    );
    await prebuild(
      second.root,
      withKeypin(baseConfig(second.root), {
        policy: "./keypin.json",
        platforms: ["android"],
      }) as ExportedConfig,
    );
    assert.match(
      readFileSync(
        join(second.root, "android", "app", "src", "main", "res", "xml", "network_security_config.xml"),
        "utf8",
      ),
      /<base-config cleartextTrafficPermitted="true"\/>/,
      "an app that allowed cleartext keeps it",
    );
  });

  it("refuses to replace another plugin's android:networkSecurityConfig", async () => {
    using project = makeProject(policyJson);
    const path = join(project.root, "android", "app", "src", "main", "AndroidManifest.xml");
    writeFileSync(
      path,
      manifest.replace("<application ", '<application android:networkSecurityConfig="@xml/other" '),
    );
    const config = withKeypin(baseConfig(project.root), { policy: "./keypin.json" }) as ExportedConfig;
    await assert.rejects(
      prebuild(project.root, config),
      /already sets android:networkSecurityConfig="@xml\/other"/,
    );
  });

  it("refuses options without a policy path, with the app.json form in the message", () => {
    assert.throws(
      () => withKeypin(baseConfig("/tmp"), {} as never),
      /"policy" option .* is missing.*"plugins"/,
    );
  });

  it('is found and loaded by Expo\'s plugin resolver as "@keypin/expo" from the built package, in plain Node', () => {
    // A child process without tsx: Expo loads app.plugin.js with require(), which on Node 20.19+ loads
    // this ES module natively (tsx's own require hook would transform it instead).
    const entry = join(repoRoot, "packages", "expo", "dist", "index.js");
    assert.ok(existsSync(entry), "packages/expo/dist is missing: run `npm run build` first");
    using project = makeProject(policyJson);
    mkdirSync(join(project.root, "node_modules", "@keypin"), { recursive: true });
    symlinkSync(join(repoRoot, "packages", "expo"), join(project.root, "node_modules", "@keypin", "expo"));
    writeFileSync(
      join(project.root, "app.json"),
      JSON.stringify({
        expo: { name: "demo", slug: "demo", plugins: [["@keypin/expo", { policy: "./keypin.json" }]] },
      }),
    );
    const script = `
      const { createRequire } = require("node:module");
      const requireFromRepo = createRequire(${JSON.stringify(join(repoRoot, "package.json"))});
      const { compileModsAsync, withPlugins } = requireFromRepo("@expo/config-plugins");
      const { resolveConfigPluginFunctionWithInfo } = requireFromRepo("@expo/config-plugins/build/utils/plugin-resolver");
      const root = process.cwd();
      const app = require(root + "/app.json").expo;
      const [[name, props]] = app.plugins;
      const { plugin, pluginFile } = resolveConfigPluginFunctionWithInfo(root, name);
      const config = withPlugins({ name: app.name, slug: app.slug, _internal: { projectRoot: root } }, [[plugin, props]]);
      compileModsAsync(config, { projectRoot: root, platforms: ["android", "ios"] })
        .then(() => console.log(JSON.stringify({ pluginFile })))
        .catch((e) => { console.error(e); process.exit(1); });
    `;
    const child = spawnSync(process.execPath, ["-e", script], {
      cwd: project.root,
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    assert.equal(child.status, 0, child.stderr);
    const { pluginFile } = JSON.parse(child.stdout.trim().split("\n").pop() ?? "{}") as {
      pluginFile: string;
    };
    assert.match(pluginFile, /@keypin\/expo\/app\.plugin\.js$/, "Expo picked the package's app.plugin.js");
    const { application, nsc, info } = readResults(project.root);
    assert.equal(application["@android:networkSecurityConfig"], "@xml/network_security_config");
    assert.match(nsc ?? "", /<network-security-config>/);
    assert.ok((info.NSAppTransportSecurity as Record<string, unknown>).NSPinnedDomains);
  });
});
