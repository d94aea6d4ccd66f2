// An iCalendar (RFC 5545) file of a plan's deadlines: the people who must act live in calendars.
import { addDays, formatDay } from "./dates.js";
import type { HostPlan, Plan } from "./types.js";

/** One all-day event of the calendar. */
export interface PlanEvent {
  /** Stable across runs for the same host and deadline, so that importing a new plan updates the events. */
  uid: string;
  day: Date;
  summary: string;
  description: string;
  /** Days before `day` for a reminder, if any. */
  alarmDaysBefore?: number;
}

function utf8Length(ch: string): number {
  const cp = ch.codePointAt(0)!;
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * One content line folded as RFC 5545 §3.1 says: no line longer than 75 octets (UTF-8), continuation lines
 * start with one space, and a character is never split across lines.
 *
 * @example
 * foldLine(`DESCRIPTION:${"x".repeat(100)}`); // "DESCRIPTION:xxx…\r\n xxx…"
 */
export function foldLine(line: string): string {
  const out: string[] = [];
  let current = "";
  let octets = 0;
  for (const ch of line) {
    const size = utf8Length(ch);
    if (octets + size > 75) {
      out.push(current);
      current = " ";
      octets = 1;
    }
    current += ch;
    octets += size;
  }
  out.push(current);
  return out.join("\r\n");
}

/**
 * A TEXT value escaped as RFC 5545 §3.3.11 says (backslash, semicolon, comma, and new lines as `\n`). TEXT
 * may hold no other control character (CONTROL: U+0000–U+0008, U+000A–U+001F, U+007F), and text here can come
 * from a peer (an ARI explanation, a pin label), so each of those, each C1 control, and the Unicode line
 * separators and bidirectional controls are written as a visible escape, `\x1b` or `\u202e` (its backslash
 * escaped, so calendars show it as such). A tab, which TEXT allows, stays.
 *
 * @example
 * escapeText("merge; ship, then\nwait"); // "merge\\; ship\\, then\\nwait"
 * escapeText("a\x1b[2Kb"); // "a\\\\x1b[2Kb"
 */
export function escapeText(text: string): string {
  return text.replace(
    /\r\n|[\r\n\\;,]|[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g,
    (c) => {
      if (c === "\r\n" || c === "\r" || c === "\n") return "\\n";
      if (c === "\\" || c === ";" || c === ",") return `\\${c}`;
      const code = c.charCodeAt(0);
      return code <= 0xff
        ? `\\\\x${code.toString(16).padStart(2, "0")}`
        : `\\\\u${code.toString(16).padStart(4, "0")}`;
    },
  );
}

function basicDate(day: Date): string {
  return formatDay(day).replace(/-/g, "");
}

function utcStamp(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace(/[-:]/g, "")}Z`;
}

function uidPart(text: string): string {
  return text
    .replace(/^sha256\//, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "")
    .replace(/[^A-Za-z0-9._-]/g, "-");
}

function target(h: HostPlan): string {
  return h.port === 443 ? h.host : `${h.host}:${h.port}`;
}

/**
 * The deadlines of a plan as all-day events: merge the next pin, have it in the stores, the key change, the day
 * each old pin may leave the policy, and a renewal window the CA asked for.
 *
 * @example
 * for (const e of planEvents(plan)) console.log(e.day.toISOString().slice(0, 10), e.summary);
 */
export function planEvents(plan: Plan): PlanEvent[] {
  const events: PlanEvent[] = [];
  const lead = `release ${plan.releaseDays} days, adoption ${plan.adoptionDays} days`;
  for (const h of plan.hosts) {
    const id = `${uidPart(h.host)}.${h.port}`;
    const name = target(h);
    const next = h.successor === "backup" ? "a new backup pin" : "the next pin";
    if (h.mergeBy) {
      events.push({
        uid: `merge.${id}@plan.keypin`,
        day: h.mergeBy,
        summary: `keypin: merge ${next} for ${name}`,
        description: `Last day to merge ${next} for ${name} into the app (${lead}), so that every version in use carries it when the pinned key changes${h.breaksAt ? ` on ${formatDay(h.breaksAt)}` : ""}. Run \`keypin plan\` for the details.`,
        alarmDaysBefore: 7,
      });
    }
    if (h.shipBy) {
      events.push({
        uid: `ship.${id}@plan.keypin`,
        day: h.shipBy,
        summary: `keypin: ${next} for ${name} must be in the stores`,
        description: `A release carrying ${next} for ${name} must be available by today; the versions without it then have ${plan.adoptionDays} days to age out before the key change.`,
      });
    }
    if (h.breaksAt) {
      events.push({
        uid: `change.${id}@plan.keypin`,
        day: h.breaksAt,
        summary: `keypin: the pinned keys of ${name} leave its certificate chain`,
        description: `Expected today: ${h.pins
          .filter((p) => p.changesAt !== undefined)
          .map((p) => `${p.pin} (${p.subject ?? "?"})`)
          .join(
            ", ",
          )} stop being served. ${h.successor === "backup" ? "Renew onto the backup key." : "Only app versions with the next pin still connect."}`,
      });
    }
    for (const pin of h.pins) {
      if (!pin.removableAfter) continue;
      events.push({
        uid: `remove.${id}.${uidPart(pin.pin)}@plan.keypin`,
        day: pin.removableAfter,
        summary: `keypin: releases may drop the old pin of ${name}`,
        description: `${pin.pin} (${pin.subject ?? "?"}) is no longer served after ${formatDay(pin.changesAt ?? pin.removableAfter)}: releases from today may leave it out of keypin.json.`,
      });
    }
    for (const f of h.findings) {
      if (f.code !== "ari-window" || !f.date) continue;
      events.push({
        uid: `ari.${id}@plan.keypin`,
        day: f.date,
        summary: `keypin: the CA asks to renew ${name} from today (ARI)`,
        description: f.message,
      });
    }
  }
  return events.sort((a, b) => a.day.getTime() - b.day.getTime() || a.uid.localeCompare(b.uid));
}

/**
 * The plan's deadlines as an iCalendar document (RFC 5545): CRLF line ends, folded lines, escaped text, one
 * all-day VEVENT per deadline with a stable UID and a DTSTAMP of the plan's `now`, and a reminder a week
 * before each merge deadline.
 *
 * @example
 * writeFileSync("pins.ics", renderIcs(plan));
 */
export function renderIcs(plan: Plan): string {
  const lines = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//keypin//keypin plan//EN",
    "CALSCALE:GREGORIAN",
    "METHOD:PUBLISH",
    `X-WR-CALNAME:${escapeText("keypin pin deadlines")}`,
  ];
  const stamp = utcStamp(plan.now);
  for (const event of planEvents(plan)) {
    lines.push(
      "BEGIN:VEVENT",
      `UID:${escapeText(event.uid)}`,
      `DTSTAMP:${stamp}`,
      `DTSTART;VALUE=DATE:${basicDate(event.day)}`,
      `DTEND;VALUE=DATE:${basicDate(addDays(event.day, 1))}`,
      `SUMMARY:${escapeText(event.summary)}`,
      `DESCRIPTION:${escapeText(event.description)}`,
      "CATEGORIES:keypin",
      "TRANSP:TRANSPARENT",
    );
    if (event.alarmDaysBefore !== undefined) {
      lines.push(
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        `TRIGGER:-P${event.alarmDaysBefore}D`,
        `DESCRIPTION:${escapeText(event.summary)}`,
        "END:VALARM",
      );
    }
    lines.push("END:VEVENT");
  }
  lines.push("END:VCALENDAR");
  return `${lines.map(foldLine).join("\r\n")}\r\n`;
}
