// Target 15: the lab's page (`keypin lab --web`, issue 15), served by the snapshot's @keypin/lab-web and loaded
// in Debian's Chromium:
//   weight   gzip (level 9) of every JavaScript file the page loads, summed: ≤ 60 KB (Mermaid's sequence
//            diagram alone is about 241 KB gzip);
//   latency  each step on screen within 250 ms of its event: the event's `ts` (stamped by the lab as the
//            server hands it to the stream; the server sends at once, eventDelayMs 0) against the page's own
//            `shown-<seq>` Performance mark (set in the first animation frame after the step's element is
//            inserted), both on this machine's wall clock (performance.timeOrigin + startTime);
//   run      the whole preset run (all scenarios) clicked in the page until its end event is drawn: about a
//            second (≤ 1.5 s), beside the lab's own durationMs.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { chromiumLaunchOptions, chromiumPath } from "@keypin/testkit";
import { chromium } from "playwright-core";
import { summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

type LabWebModule = typeof import("@keypin/lab-web");
interface Mark {
  name: string;
  at: number;
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const base = { target: 15, title: "lab page" };
  const weightBase = {
    ...base,
    id: "15-page-weight",
    metric: "gzip KB of all JS the page loads",
    threshold: "≤ 60",
  };
  const latencyBase = {
    ...base,
    id: "15-step-latency",
    metric: "worst ms, event ts → step painted",
    threshold: "≤ 250",
  };
  const runBase = {
    ...base,
    id: "15-preset-run",
    metric: "median ms, click → run drawn",
    threshold: "≤ 1500",
  };
  const index = join(ctx.modules, "@keypin", "lab-web", "dist", "index.js");
  const reason = !existsSync(chromiumPath)
    ? `${chromiumPath} is not installed (apt-get install chromium)`
    : !existsSync(index)
      ? `${index} does not exist (build @keypin/lab-web)`
      : undefined;
  if (reason) {
    return [weightBase, latencyBase, runBase].map((b) => ({ ...b, status: "not-measured" as const, reason }));
  }
  const { startLabWeb } = (await import(pathToFileURL(index).href)) as LabWebModule;
  const web = await startLabWeb({});
  const origin = new URL(web.url).origin;
  const browser = await chromium.launch(chromiumLaunchOptions);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const scripts = new Map<string, Buffer>();
    const offOrigin: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(`${origin}/`)) offOrigin.push(r.url());
    });
    page.on("response", async (r) => {
      if (r.request().resourceType() === "script") scripts.set(r.url(), await r.body());
    });
    await page.goto(`${origin}/`);
    await page.waitForSelector('body[data-run="r1"][data-run-status="done"]', {
      state: "attached",
      timeout: 60_000,
    });

    const latencies: number[] = [];
    const runMs: number[] = [];
    const labMs: number[] = [];
    let steps = 0;
    const rounds = ctx.quick ? 3 : 12;
    for (let round = 0; round < rounds; round++) {
      const previous = await page.getAttribute("body", "data-run");
      await page.evaluate(() => performance.clearMarks());
      const started = Date.now();
      await page.click('button[data-preset="all"]');
      await page.waitForFunction(
        (p) => {
          const body = (globalThis as unknown as { document: { body: { dataset: Record<string, string> } } })
            .document.body;
          return body.dataset["run"] !== p && body.dataset["runStatus"] === "done";
        },
        previous,
        { timeout: 60_000, polling: 5 },
      );
      runMs.push(Date.now() - started);
      const id = (await page.getAttribute("body", "data-run")) as string;
      const marks = await page.evaluate(() =>
        performance
          .getEntriesByType("mark")
          .filter((m) => m.name.startsWith("shown-"))
          .map((m) => ({ name: m.name, at: performance.timeOrigin + m.startTime })),
      );
      const shown = new Map<number, number>(
        marks.map((m: Mark) => [Number(m.name.slice("shown-".length)), m.at]),
      );
      const text = await (await fetch(`${origin}/api/runs/${id}/events.jsonl`)).text();
      const events = text
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as { type: string; ts: string; durationMs?: number });
      events.forEach((event, seq) => {
        if (event.type === "summary") labMs.push(event.durationMs ?? Number.NaN);
        if (event.type !== "step") return;
        const at = shown.get(seq);
        if (at === undefined) throw new Error(`run ${id}: step ${seq} never got its shown- mark`);
        latencies.push(at - Date.parse(event.ts));
        steps++;
      });
    }
    if (offOrigin.length > 0) throw new Error(`the page requested off its origin: ${offOrigin.join(", ")}`);

    const files = [...scripts.entries()];
    if (files.length === 0) throw new Error("the page loaded no script");
    const gzipBytes = files.reduce((sum, [, body]) => sum + gzipSync(body, { level: 9 }).length, 0);
    const rawBytes = files.reduce((sum, [, body]) => sum + body.length, 0);
    const kb = gzipBytes / 1024;
    const latency = summarize(latencies);
    const sorted = [...latencies].sort((a, b) => a - b);
    const p95 = sorted[Math.floor(0.95 * (sorted.length - 1))] ?? Number.NaN;
    const wall = summarize(runMs);
    return [
      {
        ...weightBase,
        status: judge(kb, "<=", 60),
        value: kb,
        notes: [
          `${files.length} scripts (${files.map(([u]) => new URL(u).pathname).join(", ")}): ${rawBytes} bytes raw, ${gzipBytes} bytes gzip -9 (each file compressed on its own, as served)`,
        ],
      },
      {
        ...latencyBase,
        status: judge(latency.max, "<=", 250),
        value: latency.max,
        sides: { "event → painted": { ...latency, unit: "ms" } },
        notes: [
          `${steps} steps over ${rounds} runs of all presets; p95 ${p95.toFixed(1)} ms; negative values mean the clocks' ms rounding (ts is whole ms)`,
        ],
      },
      {
        ...runBase,
        status: judge(wall.median, "<=", 1500),
        value: wall.median,
        sides: {
          "page, click → drawn": { ...wall, unit: "ms" },
          "lab durationMs": { ...summarize(labMs), unit: "ms" },
        },
        notes: [
          "one run at a time on one server and one browser tab, as a user clicks; the lab's own durationMs beside it",
        ],
      },
    ];
  } finally {
    await browser.close();
    await web.close();
  }
}
