import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ICAL from "ical.js";
import { escapeText, foldLine, renderIcs } from "./ics.js";
import type { Plan } from "./types.js";

const now = new Date("2026-12-01T09:30:00Z");
const day = (text: string) => new Date(`${text}T00:00:00Z`);

function planWith(description: string): Plan {
  return {
    now,
    releaseDays: 14,
    adoptionDays: 90,
    horizon: day("2028-12-01"),
    ok: true,
    hosts: [
      {
        host: description,
        port: 8443,
        domain: description,
        mode: "enforce",
        status: "planned",
        reuseKey: false,
        path: [],
        breaksAt: day("2027-06-01"),
        successor: "new-pin",
        shipBy: day("2027-03-03"),
        mergeBy: day("2027-02-17"),
        pins: [
          {
            pin: "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            position: 0,
            subject: "CN=api.test",
            changesAt: day("2027-06-01"),
            removableAfter: day("2027-06-02"),
          },
        ],
        findings: [],
      },
    ],
  };
}

describe("the iCalendar writer", () => {
  it("folds lines at 75 octets without splitting a UTF-8 character", () => {
    const line = `DESCRIPTION:${"é".repeat(40)}${"🔑".repeat(20)}${"x".repeat(30)}`;
    const folded = foldLine(line);
    const parts = folded.split("\r\n");
    assert.ok(parts.length > 2);
    for (const part of parts) assert.ok(Buffer.byteLength(part) <= 75, part);
    for (const part of parts.slice(1)) assert.ok(part.startsWith(" "));
    assert.equal(parts.map((p, i) => (i === 0 ? p : p.slice(1))).join(""), line);
  });

  it("escapes text so that a real parser reads back exactly what was written", () => {
    const odd = "a;b,c\\d\nsecond line, with 🔑 and é; " + "long ".repeat(30);
    assert.equal(escapeText("a;b,c\\d\n"), "a\\;b\\,c\\\\d\\n");
    const text = renderIcs(planWith(odd));
    const calendar = new ICAL.Component(ICAL.parse(text));
    const events = calendar.getAllSubcomponents("vevent").map((v) => new ICAL.Event(v));
    assert.ok(events.length >= 4);
    assert.ok(events.some((e) => e.summary === `keypin: merge the next pin for ${odd}:8443`));
    assert.ok(events.every((e) => e.description.includes(odd) || e.summary.includes(odd)));
  });

  it("writes all-day events on the plan's days, with DTSTAMP the plan's time and a reminder before merging", () => {
    const text = renderIcs(planWith("api.test"));
    assert.ok(text.startsWith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"));
    const calendar = new ICAL.Component(ICAL.parse(text));
    const byUid = new Map(
      calendar.getAllSubcomponents("vevent").map((v) => [String(v.getFirstPropertyValue("uid")), v]),
    );
    const merge = byUid.get("merge.api.test.8443@plan.keypin")!;
    const start = merge.getFirstPropertyValue("dtstart") as ICAL.Time;
    assert.equal(start.isDate, true);
    assert.equal(start.toString(), "2027-02-17");
    assert.equal((merge.getFirstPropertyValue("dtend") as ICAL.Time).toString(), "2027-02-18");
    assert.equal((merge.getFirstPropertyValue("dtstamp") as ICAL.Time).toString(), "2026-12-01T09:30:00Z");
    assert.equal(String(merge.getFirstSubcomponent("valarm")?.getFirstPropertyValue("trigger")), "-P7D");
    assert.equal(
      (byUid.get("ship.api.test.8443@plan.keypin")!.getFirstPropertyValue("dtstart") as ICAL.Time).toString(),
      "2027-03-03",
    );
    const remove = [...byUid.keys()].find((k) => k.startsWith("remove."));
    assert.equal(remove, "remove.api.test.8443.47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU@plan.keypin");
    // The same plan writes the same UIDs: importing a newer plan updates the events instead of doubling them.
    assert.deepEqual(
      [...byUid.keys()],
      [
        ...new ICAL.Component(ICAL.parse(renderIcs({ ...planWith("api.test"), now: new Date() })))
          .getAllSubcomponents("vevent")
          .map((v) => String(v.getFirstPropertyValue("uid"))),
      ],
    );
  });
});
