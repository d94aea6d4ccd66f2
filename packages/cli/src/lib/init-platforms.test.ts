// A policy that `init --platforms …` writes exports faithfully to every chosen format: a property over
// generated chains (real certificates, parsed by core), pushed through the real exporters, with the XML and
// the plist read back by parsers keypin did not write.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import plist from "@expo/plist";
import { type CertificateInfo, type PolicyFile, parseCertificate, pinToBase64 } from "@keypin/core";
import { type ExportFormat, exportFormats, exportPolicy } from "@keypin/export";
import { generateKey, issue, issueLeaf, type KeyKind, type TestCert } from "@keypin/testkit";
import fc from "fast-check";
import { XMLParser } from "fast-xml-parser";
import { UsageError } from "../errors.js";
import { checkExpressible, choosePinShape, type IosIdentities, readPlatforms } from "./init-platforms.js";
import { proposeDomain, proposePins } from "./propose.js";

const hosts = ["api.myapp.com", "cdn.myapp.com", "myapp.com", "auth.other.org"];

/** A verified path, leaf first, as `inspectHost` gives it: root → (intermediates) → leaf. */
async function makePath(
  kind: KeyKind,
  depth: number,
  names: { root: string; ca: string[] },
): Promise<CertificateInfo[]> {
  let issuer: TestCert = await issue(kind, { subject: names.root, ca: true });
  const above: TestCert[] = [issuer];
  for (let i = 0; i < depth; i++) {
    issuer = await issue(kind, { subject: names.ca[i]!, issuer, ca: true });
    above.unshift(issuer);
  }
  const leaf = await issueLeaf(kind, hosts, issuer);
  return [leaf, ...above].map((c) => parseCertificate(c.der));
}

describe("init --platforms: the proposed pin set fits every chosen format exactly", () => {
  const paths: CertificateInfo[][] = [];
  let backupPin: `sha256/${string}`;

  before(async () => {
    const plain = (n: string) => ({
      root: `CN=${n} Root, O=Keypin Tests`,
      ca: [`CN=${n} CA 1, O=Keypin Tests`, `CN=${n} CA 2, O=Keypin Tests`],
    });
    // Let's Encrypt's names: a CA family that rotates intermediates (init pins its root, not R11).
    const le = {
      root: "CN=ISRG Root X1, O=Internet Security Research Group",
      ca: ["CN=R11, O=Let's Encrypt"],
    };
    paths.push(await makePath("p256", 0, plain("Direct")));
    paths.push(await makePath("p256", 1, plain("Plain")));
    paths.push(await makePath("p384", 2, plain("Deep")));
    paths.push(await makePath("ed25519", 1, plain("Edwards")));
    paths.push(await makePath("rsa", 1, plain("Rsa")));
    paths.push(await makePath("p256", 1, le));
    backupPin = (await generateKey("p384")).pin;
  });

  const platformsArb = fc.subarray([...exportFormats], { minLength: 1 }).chain((platforms) =>
    fc.record({
      platforms: fc.constant(platforms),
      ios: platforms.includes("ios-ats")
        ? fc.constantFrom<IosIdentities | undefined>(undefined, "leaf", "ca")
        : fc.constant(undefined),
      // One in three runs uses the default: every format.
      asDefault: fc.constantFrom(false, false, true),
    }),
  );

  it("writes each chosen format with no difference, and the files read back with the policy's pins", () => {
    let faithful = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        platformsArb,
        fc.uniqueArray(fc.tuple(fc.constantFrom(...hosts), fc.nat({ max: 5 })), {
          minLength: 1,
          maxLength: 3,
          selector: (t) => t[0],
        }),
        ({ platforms: picked, ios, asDefault }, entries) => {
          const platforms = readPlatforms(asDefault ? [] : [picked.join(",")]);
          if (asDefault) assert.deepEqual(platforms, exportFormats, "the default is every format");
          const choice = choosePinShape(platforms, asDefault ? undefined : ios);
          const file: PolicyFile = { domains: {} };
          for (const [host, index] of entries) {
            const path = paths[index]!;
            const backup =
              choice.shape === "ca" ? undefined : { pin: backupPin, label: "offline backup key" };
            file.domains[host] = proposeDomain(proposePins(path, backup, choice.shape), {
              includeSubdomains: false,
            });
          }
          let policy: ReturnType<typeof checkExpressible>["policy"];
          try {
            policy = checkExpressible(file, platforms).policy;
          } catch (error) {
            // The one case no pin set can fix: CA keys only, a TrustKit-based format, and a path with a
            // single CA key to pin (the root issues the leaf, or the family's root stands for R11).
            assert.ok(error instanceof UsageError, String(error));
            assert.equal(choice.shape, "ca");
            assert.ok(platforms.includes("trustkit") || platforms.includes("react-native"));
            assert.ok(
              Object.values(file.domains).some((d) => d.pins.length < 2),
              error.message,
            );
            assert.match(error.message, /fewer than two pins/);
            refused++;
            return;
          }
          faithful++;
          for (const format of platforms) {
            const { content, differences } = exportPolicy(policy, format);
            assert.deepEqual(differences, []);
            checkContent(format, content, policy, choice.shape);
          }
        },
      ),
      { numRuns: 120 },
    );
    assert.ok(faithful > 60, `most runs are faithful (${faithful})`);
    assert.ok(refused > 0, "the CA-only, single-CA-key case was tried");
  });
});

type Policy = ReturnType<typeof checkExpressible>["policy"];

function checkContent(format: ExportFormat, content: string, policy: Policy, shape: string): void {
  switch (format) {
    case "android-nsc": {
      const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@" }).parse(content);
      const configs = [doc["network-security-config"]["domain-config"]].flat() as {
        domain: { "#text": string };
        "pin-set": { pin: { "#text": string } | { "#text": string }[] };
      }[];
      assert.equal(configs.length, policy.domains.length);
      for (const d of policy.domains) {
        const c = configs.find((x) => x.domain["#text"] === d.domain)!;
        const pins = [c["pin-set"].pin].flat().map((p) => p["#text"]);
        assert.deepEqual(
          pins,
          d.pins.map((p) => pinToBase64(p.pin)),
        );
      }
      return;
    }
    case "ios-ats": {
      const pinned = JSON.parse(JSON.stringify(plist.default.parse(content))).NSAppTransportSecurity
        .NSPinnedDomains as Record<string, Record<string, { "SPKI-SHA256-BASE64": string }[] | undefined>>;
      assert.deepEqual(Object.keys(pinned).sort(), policy.domains.map((d) => d.domain).sort());
      for (const d of policy.domains) {
        const entry = pinned[d.domain]!;
        // One category only, so ATS accepts any one pin, as keypin does.
        const [only, other] =
          shape === "ca"
            ? ["NSPinnedCAIdentities", "NSPinnedLeafIdentities"]
            : ["NSPinnedLeafIdentities", "NSPinnedCAIdentities"];
        assert.equal(entry[other], undefined);
        assert.deepEqual(
          entry[only]!.map((i) => i["SPKI-SHA256-BASE64"]),
          d.pins.map((p) => pinToBase64(p.pin)),
        );
      }
      return;
    }
    default:
      // Code formats: every pin is written, enforced (TrustKit's kTSKEnforcePinning stays true).
      for (const d of policy.domains) {
        for (const p of d.pins) {
          const text = format.startsWith("okhttp") || format === "node" ? p.pin : pinToBase64(p.pin);
          assert.ok(content.includes(`"${text}"`), `${format} writes ${p.pin} for ${d.domain}`);
        }
      }
      if (format === "trustkit") assert.doesNotMatch(content, /kTSKEnforcePinning: false/);
  }
}
