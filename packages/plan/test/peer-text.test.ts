// Text from a CA's ARI document or a policy's labels reaches the plan's findings, the terminal and the calendar
// (review cli-3, finding 6). An explanationURL is shown only when it is an https URL as RFC 3986 writes it, and
// the calendar's TEXT values hold none of the control characters RFC 5545 forbids, read back by ical.js.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Pin } from "@keypin/core";
import { planHost, planPins, renderIcs } from "@keypin/plan";
import ICAL from "ical.js";

const day = (text: string) => new Date(`${text}T00:00:00Z`);
const pin = (n: number) => `sha256/${String(n).padStart(43, "A")}=` as Pin;
const options = { now: day("2029-03-25"), releaseDays: 14, adoptionDays: 30 };

const hostileUrl =
  "https://ca.example/x\u001b]0;OWNED\u0007\u001b[2K\u001b[1A\u001b[32mplan: all ok\u001b[0m\u0000\r\nBEGIN:VEVENT\r\nSUMMARY:injected";

function input(explanationURL?: string) {
  return {
    host: "api.test",
    port: 443,
    domain: "api.test",
    mode: "enforce" as const,
    pins: [{ pin: pin(1) }, { pin: pin(9) }],
    path: [
      {
        subject: "CN=api.test",
        issuer: "CN=Issuing, O=Corp",
        pin: pin(1),
        notBefore: day("2029-03-20"),
        notAfter: day("2029-06-18"),
      },
      {
        subject: "CN=Issuing, O=Corp",
        issuer: "CN=Issuing, O=Corp",
        pin: pin(2),
        notBefore: day("2024-01-01"),
        notAfter: day("2034-01-01"),
        selfSigned: true,
      },
    ],
    reuseKey: false,
    ari: {
      start: day("2029-04-01"),
      end: day("2029-04-02"),
      ...(explanationURL !== undefined ? { explanationURL } : {}),
    },
  };
}

function ariMessage(explanationURL?: string): string {
  const finding = planHost(input(explanationURL), options).findings.find((f) => f.code === "ari-window");
  assert.ok(finding, "an ari-window finding");
  return finding.message;
}

// RFC 5545 §3.1 CONTROL, and the C1 controls: none may be in a content line (CRLF ends lines, HTAB is allowed).
const forbidden = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

describe("peer text in a plan", () => {
  it("shows an https explanationURL as RFC 3986 writes it", () => {
    for (const url of [
      "https://ca.example/ari/why?id=a%2Fb#top",
      "https://[2001:db8::1]:8443/x",
      "HTTPS://ca.example",
    ])
      assert.ok(ariMessage(url).endsWith(` (${url})`), url);
  });

  it("ignores, with a note, an explanationURL that is no such URL: escapes, new lines, http, another scheme", () => {
    for (const url of [
      hostileUrl,
      "https://ca.example/a b",
      "https://ca.example/\u202eexe.txt",
      "https://ca.example/%zz",
      "https://ca.example/\u00e9",
      "http://ca.example/ari",
      "javascript:alert(1)",
      "https://",
      "https://ca.example:80a/",
      `https://ca.example/${"a".repeat(2000)}`,
    ]) {
      const message = ariMessage(url);
      assert.match(
        message,
        /\(its explanationURL was ignored: not an https URL as RFC 3986 writes it\)$/,
        url,
      );
      assert.ok(!message.includes("ca.example/"), url);
      assert.doesNotMatch(message, forbidden);
    }
    assert.doesNotMatch(ariMessage(), /explanationURL/);
  });

  it("writes a calendar whose TEXT values hold no control character, and no event a host or URL injects", () => {
    const plain = renderIcs(planPins([input("https://ca.example/why")], options));
    const plan = planPins([input(hostileUrl)], options);
    plan.hosts[0]!.host =
      "api.test\r\nBEGIN:VEVENT\r\nSUMMARY:injected\u001b[2K\u0007\u0000\rb\u0085\u202e\u000b";
    const hostile = renderIcs(plan);
    const lines = hostile.split("\r\n");
    for (const line of lines) assert.doesNotMatch(line, forbidden, JSON.stringify(line));
    const events = (text: string) =>
      new ICAL.Component(ICAL.parse(text)).getAllSubcomponents("vevent").map((v) => new ICAL.Event(v));
    assert.equal(events(hostile).length, events(plain).length);
    assert.ok(events(hostile).every((e) => !e.summary.startsWith("injected")));
    for (const event of events(hostile))
      assert.doesNotMatch(`${event.summary}${event.description}`, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it("shows each control character of a TEXT value as a visible escape that a parser reads back", () => {
    const plan = planPins([input()], options);
    plan.hosts[0]!.host = "api\u001b[31m.test\u0007";
    const text = renderIcs(plan);
    assert.match(text, /api\\\\x1b\[31m\.test\\\\x07/);
    const summaries = new ICAL.Component(ICAL.parse(text))
      .getAllSubcomponents("vevent")
      .map((v) => String(v.getFirstPropertyValue("summary")));
    assert.ok(
      summaries.some((s) => s.includes("api\\x1b[31m.test\\x07")),
      summaries.join(" | "),
    );
  });
});
