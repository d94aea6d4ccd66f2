import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isKeypinError } from "@keypin/core";
import { ariCertId, parseRenewalInfo } from "./ari.js";

describe("ACME Renewal Information", () => {
  it("computes RFC 9773's example certificate identifier", () => {
    // RFC 9773 §4.1: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4, serial 0x0087654321.
    const id = ariCertId("69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4", "87654321");
    assert.equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    assert.equal(ariCertId("69885b6b87464041e1b37b847ba0ae2cde01c8d4", "0087654321"), id);
  });

  it("keeps a serial without its high bit set as it is", () => {
    assert.equal(ariCertId("01", "7F").split(".")[1], Buffer.from([0x7f]).toString("base64url"));
    assert.equal(ariCertId("01", "0100").split(".")[1], Buffer.from([1, 0]).toString("base64url"));
  });

  it("reads a renewalInfo window and its explanation", () => {
    const w = parseRenewalInfo({
      suggestedWindow: { start: "2026-12-03T10:00:00Z", end: "2026-12-04T10:00:00+00:00" },
      explanationURL: "https://example.com/incident",
    });
    assert.equal(w.start.toISOString(), "2026-12-03T10:00:00.000Z");
    assert.equal(w.end.toISOString(), "2026-12-04T10:00:00.000Z");
    assert.equal(w.explanationURL, "https://example.com/incident");
  });

  it("refuses documents that are not renewalInfo, saying what is wrong", () => {
    const cases: [unknown, RegExp][] = [
      [[], /JSON object/],
      [{}, /suggestedWindow is missing/],
      [{ suggestedWindow: { start: "2026-12-03", end: "2026-12-04T00:00:00Z" } }, /start "2026-12-03"/],
      [
        { suggestedWindow: { start: "2026-12-03T00:00:00Z", end: "2026-12-03T00:00:00Z" } },
        /not after start/,
      ],
      [
        {
          suggestedWindow: { start: "2026-12-03T00:00:00Z", end: "2026-12-04T00:00:00Z" },
          explanationURL: 3,
        },
        /explanationURL/,
      ],
    ];
    for (const [doc, message] of cases) {
      assert.throws(
        () => parseRenewalInfo(doc),
        (e: unknown) => isKeypinError(e) && e.code === "ERR_KEYPIN_PARSE" && message.test(e.message),
      );
    }
  });
});
