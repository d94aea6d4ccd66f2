// A timeline picture of a plan: each pin's life on the live path against the release and adoption windows.
import { addDays, dayMs, formatDay, startOfDay } from "./dates.js";
import { lifetimeSchedule } from "./schedule.js";
import type { HostPlan, PinPlan, Plan } from "./types.js";

/**
 * Text escaped for XML character data and attribute values.
 *
 * @example
 * escapeXml(`a < b & "c"`); // "a &lt; b &amp; &quot;c&quot;"
 */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

const colors = {
  stays: "#2e7d32",
  changes: "#ef6c00",
  backup: "#9e9e9e",
  release: "#fdd835",
  adoption: "#ef9a9a",
  change: "#c62828",
  today: "#1565c0",
  grid: "#e0e0e0",
  text: "#212121",
  muted: "#616161",
} as const;

const width = 1000;
const labelWidth = 330;
const right = 20;
const rowHeight = 22;

function shortPin(pin: string): string {
  return `${pin.slice(0, 15)}…`;
}

function pinLabel(p: PinPlan): string {
  if (p.position === undefined) return `${p.role ?? "pin"} (not served) ${shortPin(p.pin)}`;
  if (p.position === 0) return `leaf key ${shortPin(p.pin)}`;
  const cn = /CN=([^,]+)/.exec(p.subject ?? "")?.[1] ?? p.subject ?? "CA";
  return `CA ${cn} ${shortPin(p.pin)}`;
}

function statusLabel(h: HostPlan): string {
  switch (h.status) {
    case "stable":
      return "stable";
    case "planned":
      return `merge by ${h.mergeBy ? formatDay(h.mergeBy) : "?"}`;
    case "late":
      return `LATE: was due ${h.shipBy ? formatDay(h.shipBy) : "?"}`;
    case "mismatch":
      return "MISMATCH today";
    case "error":
      return `error: ${h.error ?? ""}`;
    default: {
      const never: never = h.status;
      return never;
    }
  }
}

/**
 * The plan as an SVG timeline: a row per host with its release window (merge by → in the stores), adoption
 * window (→ key change) and key-change day; a bar per pin while its key stays on the live path; today and the
 * SC-081 steps as vertical lines.
 *
 * @example
 * writeFileSync("pins.svg", renderSvg(plan));
 */
export function renderSvg(plan: Plan): string {
  const start = startOfDay(addDays(plan.now, -30));
  const dates: number[] = [addDays(plan.now, 365).getTime()];
  for (const h of plan.hosts) {
    for (const d of [h.breaksAt, h.shipBy, h.mergeBy, ...h.pins.map((p) => p.changesAt)]) {
      if (d) dates.push(addDays(d, 45).getTime());
    }
  }
  const end = new Date(Math.min(plan.horizon.getTime(), Math.max(...dates)));
  const span = Math.max(end.getTime() - start.getTime(), dayMs);
  const x = (d: Date) => {
    const t = Math.min(Math.max(d.getTime(), start.getTime()), end.getTime());
    return labelWidth + ((t - start.getTime()) / span) * (width - labelWidth - right);
  };
  const n = (v: number) => v.toFixed(1);
  const body: string[] = [];
  const top = 64;
  let y = top;
  for (const h of plan.hosts) {
    const name = h.port === 443 ? h.host : `${h.host}:${h.port}`;
    body.push(
      `<text x="8" y="${y + 15}" font-weight="bold" fill="${colors.text}">${escapeXml(name)}</text>`,
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" fill="${h.status === "late" || h.status === "mismatch" || h.status === "error" ? colors.change : colors.muted}">${escapeXml(statusLabel(h))}</text>`,
    );
    if (h.mergeBy && h.shipBy) {
      body.push(
        `<rect class="release-window" x="${n(x(h.mergeBy))}" y="${y + 3}" width="${n(Math.max(1, x(h.shipBy) - x(h.mergeBy)))}" height="16" fill="${colors.release}"><title>${escapeXml(`release: merge by ${formatDay(h.mergeBy)}, in the stores by ${formatDay(h.shipBy)}`)}</title></rect>`,
      );
    }
    const adoptionEnd = h.successor === "backup" ? undefined : h.breaksAt;
    if (h.shipBy && adoptionEnd) {
      body.push(
        `<rect class="adoption-window" x="${n(x(h.shipBy))}" y="${y + 3}" width="${n(Math.max(1, x(adoptionEnd) - x(h.shipBy)))}" height="16" fill="${colors.adoption}"><title>${escapeXml(`adoption: versions without the next pin age out by ${formatDay(adoptionEnd)}`)}</title></rect>`,
      );
    }
    if (h.breaksAt) {
      const bx = x(h.breaksAt);
      body.push(
        `<path class="key-change" d="M${n(bx)} ${y + 2} l6 9 l-6 9 l-6 -9 z" fill="${colors.change}"><title>${escapeXml(`key change ${formatDay(h.breaksAt)}`)}</title></path>`,
      );
    }
    y += rowHeight;
    for (const p of h.pins) {
      const backup = p.position === undefined;
      body.push(
        `<text x="20" y="${y + 15}" fill="${colors.muted}" font-size="12">${escapeXml(pinLabel(p))}</text>`,
      );
      if (backup) {
        body.push(
          `<line class="pin-backup" x1="${n(x(start))}" y1="${y + 11}" x2="${n(x(end))}" y2="${y + 11}" stroke="${colors.backup}" stroke-width="4" stroke-dasharray="6 4"/>`,
        );
      } else {
        const cert = h.path[p.position!];
        const from = cert ? cert.notBefore : start;
        const to = p.changesAt ?? end;
        body.push(
          `<rect class="${p.changesAt ? "pin-changes" : "pin-stays"}" x="${n(x(from))}" y="${y + 5}" width="${n(Math.max(1, x(to) - x(from)))}" height="12" rx="3" fill="${p.changesAt ? colors.changes : colors.stays}"><title>${escapeXml(`${p.pin}${p.changesAt ? ` leaves the path ${formatDay(p.changesAt)}` : " stays"}`)}</title></rect>`,
        );
      }
      y += rowHeight;
    }
    y += 8;
  }
  const bottom = y;
  const grid: string[] = [];
  const months = Math.max(1, Math.ceil(span / dayMs / 30 / 12));
  const tick = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  for (let i = 0; tick.getTime() <= end.getTime(); i++) {
    const tx = x(tick);
    grid.push(
      `<line x1="${n(tx)}" y1="${top - 6}" x2="${n(tx)}" y2="${bottom}" stroke="${colors.grid}" stroke-width="1"/>`,
    );
    if (i % months === 0 && tx < width - right - 40) {
      grid.push(
        `<text x="${n(tx + 2)}" y="${top - 10}" font-size="11" fill="${colors.muted}">${formatDay(tick).slice(0, 7)}</text>`,
      );
    }
    tick.setUTCMonth(tick.getUTCMonth() + 1);
  }
  for (const step of lifetimeSchedule) {
    const day = new Date(`${step.from}T00:00:00Z`);
    if (day.getTime() < start.getTime() || day.getTime() > end.getTime()) continue;
    const sx = x(day);
    grid.push(
      `<line class="sc081" x1="${n(sx)}" y1="${top - 30}" x2="${n(sx)}" y2="${bottom}" stroke="${colors.muted}" stroke-dasharray="3 3"/>`,
      `<text x="${n(sx + 3)}" y="${top - 24}" font-size="11" fill="${colors.muted}">${step.maxDays}-day certificates</text>`,
    );
  }
  const tx = x(plan.now);
  grid.push(
    `<line class="today" x1="${n(tx)}" y1="${top - 30}" x2="${n(tx)}" y2="${bottom}" stroke="${colors.today}" stroke-width="2"/>`,
    `<text x="${n(tx - 3)}" y="${top - 24}" font-size="11" text-anchor="end" fill="${colors.today}">today ${formatDay(plan.now)}</text>`,
  );
  const legendY = bottom + 24;
  const legend: [string, string][] = [
    [colors.stays, "key stays on the path"],
    [colors.changes, "key leaves the path"],
    [colors.backup, "backup (not served)"],
    [colors.release, "release window"],
    [colors.adoption, "adoption window"],
    [colors.change, "no pinned key left"],
  ];
  const legendItems = legend.map(
    ([color, text], i) =>
      `<rect x="${8 + i * 160}" y="${legendY - 10}" width="14" height="12" fill="${color}"/><text x="${26 + i * 160}" y="${legendY}" font-size="12" fill="${colors.text}">${escapeXml(text)}</text>`,
  );
  const height = legendY + 16;
  const title = `keypin plan, ${formatDay(plan.now)}: release ${plan.releaseDays} days, adoption ${plan.adoptionDays} days`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="20" font-size="15" font-weight="bold" fill="${colors.text}">${escapeXml(title)}</text>`,
    ...grid,
    ...body,
    ...legendItems,
    "</svg>",
    "",
  ].join("\n");
}
