/**
 * The dashboard: one self-contained page (no CDN, no external script or style) that reads /api/groups and
 * /api/series and draws hosts, failure counts per minute (an SVG chart), the newest chains with their pins
 * and each group's classification. Every value is put in the page with textContent, never as HTML.
 */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>keypin collect</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1b1f24;background:#fafafa}
h1{font-size:20px;margin:0 0 16px}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
.interception{color:#fff;background:#cf222e}.server-change{color:#1b1f24;background:#f2cc60}.misconfiguration{color:#fff;background:#8250df}
.tag{padding:1px 6px;border-radius:4px;font-size:12px}code{font-size:12px}ul{margin:0;padding-left:18px}
svg{background:#fff;border:1px solid #d0d7de}
</style></head><body>
<h1>keypin collect: pin-failure reports</h1>
<h2>Hosts</h2><table id="hosts"><thead><tr><th>host</th><th>reports</th><th>groups</th><th>last seen</th></tr></thead><tbody></tbody></table>
<h2>Failures per minute</h2><svg id="chart" width="720" height="220" role="img" aria-label="failures per minute"></svg>
<h2>Newest groups</h2><table id="groups"><thead><tr><th>host:port</th><th>count</th><th>first / last seen</th><th>classification</th><th>validated chain</th><th>known pins</th></tr></thead><tbody></tbody></table>
<script>
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; };
const NS = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v)); if (text !== undefined) e.textContent = String(text); return e; };
function drawChart(series) {
  const svg = document.getElementById("chart"); svg.replaceChildren();
  const W = 720, H = 220, L = 40, B = 30, T = 10, R = 10;
  const seen = series.map((p) => Date.parse(p.minute));
  const minutes = [];
  // Every minute from the first report to the last (the last 3 hours at most), the quiet ones as 0.
  if (seen.length > 0) { const last = Math.max(...seen); for (let m = Math.max(Math.min(...seen), last - 179 * 60000); m <= last; m += 60000) minutes.push(m); }
  if (minutes.length === 0) { svg.append(svgEl("text", { x: 20, y: 40 }, "no reports yet")); return; }
  const totals = minutes.map((m) => series.filter((p) => Date.parse(p.minute) === m).reduce((s, p) => s + p.count, 0));
  const max = Math.max(...totals);
  const bw = Math.max(2, Math.min(40, (W - L - R) / minutes.length - 2));
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#57606a" }));
  svg.append(svgEl("text", { x: 4, y: T + 10, "font-size": 11 }, max));
  svg.append(svgEl("text", { x: 4, y: H - B, "font-size": 11 }, 0));
  minutes.forEach((m, i) => {
    const h = ((H - B - T) * totals[i]) / max; const x = L + i * (bw + 2);
    const bar = svgEl("rect", { x, y: H - B - h, width: bw, height: h, fill: "#0969da", "data-count": totals[i] });
    bar.append(svgEl("title", {}, new Date(m).toISOString().slice(11, 16) + " UTC: " + totals[i]));
    svg.append(bar);
  });
  svg.append(svgEl("text", { x: L, y: H - 8, "font-size": 11 }, new Date(minutes[0]).toISOString().slice(0, 16).replace("T", " ")));
  svg.append(svgEl("text", { x: W - R - 110, y: H - 8, "font-size": 11 }, new Date(minutes[minutes.length - 1]).toISOString().slice(0, 16).replace("T", " ")));
}
// A token (collectors bound beyond loopback) comes in the fragment, #token=…, which the browser never sends.
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const api = (path) => fetch(path, token ? { headers: { authorization: "Bearer " + token } } : {}).then((r) => { if (!r.ok) throw new Error(path + ": HTTP " + r.status); return r.json(); });
// Every page of groups (the API answers 500 at most per call; the stored groups have a byte budget), so that the
// per-host totals count them all, not the first page (review).
async function allGroups() {
  const groups = [];
  for (let offset = 0, page = 0; offset !== null && page < 200; page++) {
    const r = await api("api/groups?limit=500&offset=" + offset);
    groups.push(...r.groups);
    offset = r.nextOffset;
  }
  return { groups };
}
async function load() {
  const [g, s] = await Promise.all([allGroups(), api("api/series")]);
  const byHost = new Map();
  for (const grp of g.groups) {
    const h = byHost.get(grp.host) || { count: 0, groups: 0, last: "" };
    h.count += grp.count; h.groups += 1; if (grp.lastSeen > h.last) h.last = grp.lastSeen; byHost.set(grp.host, h);
  }
  const hosts = document.querySelector("#hosts tbody"); hosts.replaceChildren();
  for (const [host, h] of [...byHost].sort((a, b) => b[1].count - a[1].count)) {
    const tr = el("tr"); tr.append(el("td", host), el("td", h.count), el("td", h.groups), el("td", h.last)); hosts.append(tr);
  }
  const groups = document.querySelector("#groups tbody"); groups.replaceChildren();
  for (const grp of g.groups.slice(0, 50)) {
    const tr = el("tr");
    const cls = el("td"); cls.append(el("span", grp.classification, "tag " + grp.classification));
    const ev = el("ul"); for (const e of grp.evidence) ev.append(el("li", e)); cls.append(ev);
    const chain = el("td"); const cl = el("ul");
    for (const c of grp.chain) { const li = el("li", c.subject + " "); li.append(el("code", "pin-sha256=" + c.pin)); cl.append(li); }
    chain.append(cl);
    const pins = el("td"); const pl = el("ul"); for (const p of grp.knownPins) pl.append(el("li", p)); pins.append(pl);
    tr.append(el("td", grp.host + ":" + grp.port), el("td", grp.count), el("td", grp.firstSeen + " / " + grp.lastSeen), cls, chain, pins);
    groups.append(tr);
  }
  drawChart(s.series);
  document.body.dataset.loaded = "true";
}
load().catch((e) => { document.body.append(el("p", "could not load: " + e.message)); });
setInterval(() => load().catch(() => {}), 10000);
</script></body></html>
`;
}
