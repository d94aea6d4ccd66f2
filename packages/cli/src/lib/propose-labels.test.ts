// Labels `init` writes from certificate names are labels validation accepts (review 2, finding 5: a label
// holds only XML 1.0 characters). A server's certificate names are the peer's text: a CN holding U+FFFF or
// U+FFFE must not make `init` write a keypin.json that fails to load. (Control characters already reach
// the subject escaped, RFC 4514 style, by core.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCertificate, validatePolicy } from "@keypin/core";
import { issue, issueLeaf } from "@keypin/testkit";
import { proposeDomain, proposePins } from "./propose.js";

describe("init: labels from certificate names", () => {
  for (const [name, bad] of [
    ["U+FFFF", "\uffff"],
    ["U+FFFE", "\ufffe"],
  ] as const) {
    it(`writes a label validation accepts for a CA whose CN holds ${name}, with the rest of the name kept`, async () => {
      const root = await issue("p256", { subject: `CN=Evil${bad} Root, O=Keypin Tests`, ca: true });
      const leaf = await issueLeaf("p256", ["api.example.com"], root);
      const path = [leaf, root].map((c) => parseCertificate(c.der));
      assert.ok(path[1]!.subject.includes(bad), "the certificate carries the character (control)");
      const backup = {
        pin: `sha256/${Buffer.alloc(32, 7).toString("base64")}` as const,
        label: "offline backup key",
      };
      const entry = proposeDomain(proposePins(path, backup), { includeSubdomains: false });
      const result = validatePolicy({ domains: { "api.example.com": entry } });
      assert.equal(result.ok, true, JSON.stringify(!result.ok && result.problems));
      const labels = (entry.pins as { label?: string }[]).map((p) => p.label ?? "").join("\n");
      assert.match(labels, /Evil\ufffd+ Root/);
    });
  }
});
