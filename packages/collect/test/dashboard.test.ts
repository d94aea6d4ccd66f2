// The dashboard in a real browser (Debian's Chromium, driven by playwright-core): hosts with their counts,
// failures per minute as an SVG chart drawn by the page itself (no CDN: every request stays on the
// collector's origin), the newest chains with their pins and each group's classification. A hostile
// value in a report is shown as text, never run. Skipped only on a developer's machine without Chromium;
// in CI (CI=true) a missing Chromium fails.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Collector, openSqliteStore, type ReportStore, startCollector } from "@keypin/collect";
import {
  chromiumLaunchOptions,
  createChain,
  issue,
  issueLeaf,
  makeTempDir,
  skipWithoutChromium,
  type TestChain,
  unrelatedPin,
} from "@keypin/testkit";
import { chromium } from "playwright-core";
import { post, trustKitAndroidReport, trustKitIosReport } from "./helpers.js";

describe("the dashboard in Chromium", {
  skip: skipWithoutChromium(),
}, () => {
  const temp = makeTempDir("keypin-dashboard-");
  let store: ReportStore;
  let collector: Collector;
  let now = Date.parse("2026-12-01T10:00:30Z");
  let genuine: TestChain;

  before(async () => {
    store = await openSqliteStore(join(temp.dir, "reports.db"));
    genuine = await createChain("p256", ["api.keypin.test"], "genuine");
    collector = await startCollector({ store, publicRoots: [genuine.root.pem], now: () => now });
  });
  after(async () => {
    await collector.close();
    await store.close();
    temp.remove();
  });

  test("hosts, a per-minute chart, chains with pins and classifications; all requests same-origin", async () => {
    const pins = [unrelatedPin(), unrelatedPin()];
    // Minute 10:00: 3 server-change reports; 10:01: none; 10:02: 5 interception reports from one proxy.
    const renewed = await issueLeaf("p256", ["api.keypin.test"], genuine.intermediate);
    const renewedChain = { ...genuine, leaf: renewed };
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (
          await post(
            collector.url,
            JSON.stringify(trustKitAndroidReport(renewedChain, "api.keypin.test", 443, pins)),
          )
        ).status,
        201,
      );
    }
    now += 2 * 60_000;
    const proxyCa = await issue("p256", { subject: "CN=Evil Proxy CA", ca: true });
    const proxyInt = await issue("p256", {
      subject: "CN=Evil Proxy Intermediate",
      issuer: proxyCa,
      ca: true,
    });
    const forged: TestChain = {
      root: proxyCa,
      intermediate: proxyInt,
      leaf: await issueLeaf("p256", ["cdn.keypin.test"], proxyInt),
      served: "",
    };
    for (let i = 0; i < 5; i++) {
      const report = {
        ...trustKitIosReport(forged, "cdn.keypin.test", 443, pins),
        "app-version": "<script>window.pwned=1</script>",
      };
      assert.equal((await post(collector.url, JSON.stringify(report))).status, 201);
    }

    const browser = await chromium.launch(chromiumLaunchOptions);
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const origin = new URL(collector.url).origin;
      const requests: string[] = [];
      const errors: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      await page.goto(`${origin}/`);
      await page.waitForSelector("body[data-loaded=true]", { timeout: 10_000 });

      // Run in the page (the browser's DOM; this program is typed for Node only).
      const hosts = await page.$$eval("#hosts tbody tr", (rows) =>
        rows.map((r) =>
          Array.from((r as unknown as { children: ArrayLike<{ textContent: string | null }> }).children).map(
            (c) => c.textContent,
          ),
        ),
      );
      assert.deepEqual(
        hosts.map((h) => [h[0], h[1], h[2]]),
        [
          ["cdn.keypin.test", "5", "1"],
          ["api.keypin.test", "3", "1"],
        ],
      );
      const bars = await page.$$eval("#chart rect", (rects) =>
        rects.map((r) => r.getAttribute("data-count")),
      );
      assert.deepEqual(bars, ["3", "0", "5"], "one bar per minute, the quiet minute as 0, in order");
      const heights = await page.$$eval("#chart rect", (rects) =>
        rects.map((r) => Number(r.getAttribute("height"))),
      );
      assert.ok(
        (heights[2] as number) > (heights[0] as number) && heights[1] === 0,
        "5 is drawn taller than 3, 0 flat",
      );
      const groups = await page.$$eval("#groups tbody tr", (rows) => rows.map((r) => r.textContent ?? ""));
      assert.equal(groups.length, 2);
      assert.match(groups[0] as string, /cdn\.keypin\.test:443.*5.*interception.*CN=Evil Proxy CA/s);
      assert.match(groups[1] as string, /api\.keypin\.test:443.*3.*server-change/s);
      assert.ok(
        (groups[1] as string).includes(`pin-sha256=${renewed.pin.slice(7)}`),
        "the new leaf's pin is shown",
      );
      assert.ok(
        (groups[0] as string).includes(`pin-sha256="${(pins[0] as string).slice(7)}"`),
        "the known pins are shown",
      );
      assert.equal(await page.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned), undefined);
      assert.deepEqual(errors, []);
      assert.ok(requests.length >= 3);
      assert.deepEqual(
        requests.filter((u) => !u.startsWith(`${origin}/`)),
        [],
        "nothing from another origin (no CDN)",
      );
      const shot = join(process.env.KEYPIN_SCREENSHOT_DIR ?? temp.dir, "dashboard.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(existsSync(shot));

      // A collector with a token: without it the page says it could not load; with #token= it loads, and
      // the token travels only in the Authorization header (the fragment is never sent).
      const token = "dashboard-token-0123456789";
      const guarded = await startCollector({ store, token, now: () => now });
      try {
        const guardedOrigin = new URL(guarded.url).origin;
        const locked = await browser.newPage();
        await locked.goto(`${guardedOrigin}/`);
        await locked.waitForFunction(() =>
          (
            globalThis as unknown as { document: { body: { textContent: string | null } } }
          ).document.body.textContent?.includes("could not load"),
        );
        assert.equal(await locked.$$eval("#groups tbody tr", (rows) => rows.length), 0);
        const open = await browser.newPage();
        const seen: { url: string; auth: string | undefined }[] = [];
        open.on("request", (r) => seen.push({ url: r.url(), auth: r.headers().authorization }));
        await open.goto(`${guardedOrigin}/#token=${token}`);
        await open.waitForSelector("body[data-loaded=true]", { timeout: 10_000 });
        assert.equal(await open.$$eval("#groups tbody tr", (rows) => rows.length), 2);
        assert.ok(
          seen.every((r) => !r.url.includes(token)),
          "the token is never in a URL sent",
        );
        assert.ok(seen.filter((r) => r.url.includes("/api/")).every((r) => r.auth === `Bearer ${token}`));
      } finally {
        await guarded.close();
      }
    } finally {
      await browser.close();
    }
  });
});
