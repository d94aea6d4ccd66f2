// The lab's page in a real browser (Debian's Chromium, driven by playwright-core), against the built package's
// server (dist/index.js, serving dist/client): every preset drawn step for step as the run's JSON Lines say,
// scenario 3's ✕ with the attacker's counter at 0, scenario 2's stolen token on screen, a what-if run, a
// reload mid-run, permalinks and keyboard stepping, no request off 127.0.0.1, axe-core at a phone's and a
// laptop's width, a screenshot per preset, and every openssl command on the page run in a real shell.
// One browser, one server for the whole file. Skipped only on a developer's machine without Chromium; in CI
// (CI=true) a missing Chromium fails.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromiumLaunchOptions, skipWithoutChromium } from "@keypin/testkit";
import { type Browser, chromium, type Page } from "playwright-core";

const packageDir = fileURLToPath(new URL("../../", import.meta.url));
const repo = join(packageDir, "..", "..");
/** The built package, as `keypin lab --web` runs it (not its sources). */
const builtIndex = join(packageDir, "dist", "index.js");
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const artifacts = process.env["KEYPIN_SCREENSHOT_DIR"] ?? join(repo, "test-artifacts", "lab-web");

type LabWebModule = typeof import("@keypin/lab-web");
interface JsonEvent {
  type: "step" | "outcome" | "summary";
  scenario: number | null;
  step?: string;
  actor?: string;
  text?: string;
  data?: Record<string, unknown>;
  observed?: string;
  attackerAppBytes?: number;
  backendHits?: number;
  tokenLeaked?: boolean;
}
interface RenderedStep {
  seq: number;
  scenario: string;
  step: string;
  actor: string;
  text: string;
}

// What the page's DOM says, read inside the page (this file is typed for Node, so the DOM is typed by hand).
type El = {
  getAttribute(name: string): string | null;
  querySelector(selector: string): El | null;
  textContent: string | null;
};

describe("the lab page in Chromium", { skip: skipWithoutChromium() }, () => {
  let web: Awaited<ReturnType<LabWebModule["startLabWeb"]>>;
  let browser: Browser;
  let page: Page;
  let origin: string;
  const requests: string[] = [];
  const errors: string[] = [];
  /** The run of each preset, by scenario number (the presets' test fills it). */
  const presetRuns = new Map<number, string>();

  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${origin}${path}`);
    assert.equal(response.status, 200, `${path} answered ${response.status}`);
    return (await response.json()) as T;
  };
  const jsonl = async (run: string): Promise<JsonEvent[]> => {
    const response = await fetch(`${origin}/api/runs/${run}/events.jsonl`);
    assert.equal(response.status, 200);
    return (await response.text())
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as JsonEvent);
  };
  const rendered = (p: Page): Promise<RenderedStep[]> =>
    p.$$eval("li.step", (items) =>
      (items as unknown as El[]).map((li) => ({
        seq: Number(li.getAttribute("data-seq")),
        scenario: li.getAttribute("data-scenario") ?? "",
        step: li.getAttribute("data-step") ?? "",
        actor: li.getAttribute("data-actor") ?? "",
        text: li.querySelector(".step-text")?.textContent ?? "",
      })),
    );
  /** The steps of the run's JSON Lines, each with its SSE id (its line number: ids count every event from 0). */
  const expectedSteps = (events: JsonEvent[]): RenderedStep[] =>
    events.flatMap((e, seq) =>
      e.type === "step"
        ? [
            {
              seq,
              scenario: e.scenario === null ? "" : String(e.scenario),
              step: e.step ?? "",
              actor: e.actor ?? "",
              text: e.text ?? "",
            },
          ]
        : [],
    );
  const waitForRunEnd = async (p: Page, run: string): Promise<void> => {
    await p.waitForSelector(`body[data-run="${run}"][data-run-status="done"][data-pins="loaded"]`, {
      state: "attached",
      timeout: 20_000,
    });
  };
  /** Starts a run from the page (a click), waits for its end; returns its id. */
  const runFromPage = async (p: Page, start: () => Promise<void>): Promise<string> => {
    const before = await p.getAttribute("body", "data-run");
    await start();
    await p.waitForFunction(
      (previous) => {
        const body = (globalThis as unknown as { document: { body: El } }).document.body;
        return body.getAttribute("data-run") !== previous;
      },
      before,
      { timeout: 10_000 },
    );
    const run = (await p.getAttribute("body", "data-run")) as string;
    await waitForRunEnd(p, run);
    return run;
  };
  const assertStepsMatch = async (p: Page, run: string): Promise<JsonEvent[]> => {
    const events = await jsonl(run);
    const want = expectedSteps(events);
    assert.ok(want.length > 5, `run ${run} has steps`);
    assert.deepEqual(
      await rendered(p),
      want,
      `run ${run}: the page's steps are the JSON Lines' steps, in order`,
    );
    return events;
  };
  const axeSerious = async (p: Page): Promise<string[]> => {
    if (!(await p.evaluate(() => "axe" in globalThis))) await p.addScriptTag({ path: axePath });
    // A step still fading in (0.25 s) has a contrast of its own: check the page as it settles, not mid-animation
    // (on a loaded machine the last steps of a run can still be animating when the run's end is seen).
    await p.waitForFunction("document.getAnimations().every((a) => a.playState !== 'running')");
    const violations = await p.evaluate(async () => {
      const axe = (
        globalThis as unknown as {
          axe: {
            run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }>;
          };
        }
      ).axe;
      return (await axe.run()).violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
      }));
    });
    return violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.impact} ${v.id}: ${v.targets.join(", ")}`);
  };

  before(async () => {
    assert.ok(
      existsSync(join(packageDir, "dist", "client", "index.html")),
      "the page is built (dist/client)",
    );
    const { startLabWeb } = (await import(builtIndex)) as LabWebModule;
    // Events spaced 20 ms apart, so that a reload lands while a run is still going.
    web = await startLabWeb({ eventDelayMs: 20 });
    origin = new URL(web.url).origin;
    browser = await chromium.launch(chromiumLaunchOptions);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("request", (r) => requests.push(r.url()));
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    mkdirSync(artifacts, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await web?.close();
  });

  test("the default run: every step as its event, scenario 3's ✕ and zero bytes, scenario 2's token, openssl pins", async (t) => {
    await page.goto(`${origin}/`);
    await waitForRunEnd(page, "r1");
    const events = await assertStepsMatch(page, "r1");
    const scenarios = new Set(events.filter((e) => e.type === "outcome").map((e) => e.scenario));
    assert.ok(scenarios.has(2) && scenarios.has(3) && scenarios.has(7), "the default run plays the presets");

    // Scenario 3: the decision is drawn as a cancel (✕ at the app); the attacker's counter says 0, as the
    // outcome's own counter does.
    const outcome3 = events.find((e) => e.type === "outcome" && e.scenario === 3);
    assert.equal(outcome3?.attackerAppBytes, 0);
    const decision3 = page.locator('li.step[data-scenario="3"][data-step="decision"]');
    assert.equal(await decision3.locator(".cancel").textContent(), "✕");
    await decision3.locator(":scope > details > summary").click();
    assert.equal(await decision3.locator("p.attacker-bytes").getAttribute("data-attacker-bytes"), "0");
    assert.match((await decision3.locator("p.attacker-bytes").textContent()) ?? "", /\b0 bytes\b/);
    assert.ok(await decision3.locator("p.attacker-bytes").isVisible());
    assert.equal(await page.getAttribute('[data-outcome="3"]', "data-attacker-bytes"), "0");
    assert.equal(await page.getAttribute('[data-outcome="3"]', "data-observed"), "blocked");
    // A step that went through is drawn without a cancel.
    assert.equal(await page.locator('li.step[data-scenario="2"][data-step="decision"] .cancel').count(), 0);

    // Scenario 2: the decrypt step shows the authorization header the proxy logged, the lab's made-up token.
    const decrypt2 = events.find(
      (e) => e.type === "step" && e.scenario === 2 && e.step === "decrypt" && e.data?.["headers"],
    );
    assert.ok(decrypt2?.data, "scenario 2 has a decrypt step with the logged headers");
    const logged = (decrypt2.data["headers"] as Record<string, string>)["authorization"] as string;
    const token = logged.replace(/^Bearer /, "");
    assert.match(token, /^lab_fake_/);
    const decryptItem = page.locator(`li.step[data-seq="${events.indexOf(decrypt2 as JsonEvent)}"]`);
    await decryptItem.locator(":scope > details > summary").click();
    const log = decryptItem.locator("pre.proxy-log").first();
    assert.ok(await log.isVisible());
    assert.ok(((await log.textContent()) ?? "").includes(`authorization: ${logged}`));
    assert.equal(await log.locator("mark.token").textContent(), token);
    // Scenario 3's proxy logged nothing: no token anywhere in its steps' logs.
    const s3logs = await page.locator('li.step[data-scenario="3"] pre.proxy-log').allTextContents();
    assert.ok(s3logs.every((l) => !l.includes(token)));
    assert.equal(s3logs.length, 0, "scenario 3's proxy logged no request");
    assert.match(
      (await page
        .locator('li.step[data-scenario="3"][data-step="decrypt"] .proxy-log-empty')
        .textContent()) ?? "",
      /empty, no request, no token/,
    );
    assert.equal(await page.getAttribute('[data-outcome="3"]', "data-attacker-bytes"), "0");

    // Every openssl command on the page, run in a real shell, prints the pin it stands beside.
    const shown = await page.$$eval("[data-pin]", (items) =>
      (items as unknown as El[]).map((el) => ({
        pin: el.getAttribute("data-pin") ?? "",
        command: el.querySelector("code.openssl")?.textContent ?? "",
        pending: el.querySelector("code.openssl")?.getAttribute("data-pending") ?? null,
      })),
    );
    assert.ok(shown.length >= 14, `pins of every extract-pin step (${shown.length})`);
    assert.deepEqual(
      shown.filter((s) => s.pending !== null),
      [],
      "every pin has its command",
    );
    const distinct = new Map(shown.map((s) => [`${s.pin}\n${s.command}`, s]));
    for (const { pin, command } of distinct.values()) {
      const printed = execFileSync("sh", ["-c", command], { encoding: "utf8" }).trim();
      assert.equal(printed, pin, `${command} prints ${pin}`);
    }
    t.diagnostic(`${distinct.size} distinct openssl commands run, each printed its pin`);

    // Downloads and "On your platform" for scenario 3's pin set.
    const files = await page.$$eval("#files a", (links) =>
      (links as unknown as El[]).map((a) => a.getAttribute("href") ?? ""),
    );
    assert.ok(
      files.some((f) => f.endsWith("/keypin.json")),
      `downloads: ${files.join(", ")}`,
    );
    await page.selectOption("#platform-scenario", "3");
    await page.waitForSelector('#platform-list [data-platform="android-nsc"]', { state: "attached" });
    const platforms = await page.$$eval("#platform-list [data-platform]", (items) =>
      (items as unknown as El[]).map((el) => el.getAttribute("data-platform")),
    );
    for (const id of ["android-nsc", "okhttp-kotlin", "ios-ats", "trustkit", "react-native", "node"]) {
      assert.ok(platforms.includes(id), `platform ${id} shown (${platforms.join(", ")})`);
    }
    const pinned3 = events.find((e) => e.type === "step" && e.scenario === 3 && e.step === "request")?.data?.[
      "pins"
    ] as string[];
    const nsc = (await page.locator('#platform-list [data-platform="android-nsc"] pre').textContent()) ?? "";
    for (const pin of pinned3)
      assert.ok(nsc.includes(pin.slice("sha256/".length)), `the NSC config carries ${pin}`);
  });

  test("keyboard stepping, visible focus, permalinks", async () => {
    const steps = await rendered(page);
    await page.locator(`li.step[data-seq="${steps[0]?.seq}"] > details > summary`).focus();
    await page.keyboard.press("j");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("j");
    await page.keyboard.press("k");
    const focused = await page.evaluate(() => {
      const doc = (
        globalThis as unknown as {
          document: { activeElement: (El & { closest(s: string): El | null }) | null };
        }
      ).document;
      return doc.activeElement?.closest("li.step")?.getAttribute("data-seq") ?? null;
    });
    assert.equal(focused, String(steps[2]?.seq), "down, down, down, up: the third step");
    const outline = await page.evaluate(() => {
      const g = globalThis as unknown as {
        document: { activeElement: unknown };
        getComputedStyle(e: unknown): { outlineStyle: string };
      };
      return g.getComputedStyle(g.document.activeElement).outlineStyle;
    });
    assert.notEqual(outline, "none", "the focused step shows its focus");
    assert.equal(new URL(page.url()).hash, `#run=r1&scenario=${steps[2]?.scenario}&step=${steps[2]?.seq}`);
    await page.keyboard.press("Enter");
    assert.equal(
      await page.locator(`li.step[data-seq="${steps[2]?.seq}"] > details`).getAttribute("open"),
      "",
    );

    // A permalink opens the page on that step: scenario 3's decision, opened and focused.
    const decision = steps.find((s) => s.scenario === "3" && s.step === "decision") as RenderedStep;
    const linked = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    linked.on("request", (r) => requests.push(r.url()));
    try {
      await linked.goto(`${origin}/#run=r1&scenario=3&step=${decision.seq}`);
      await waitForRunEnd(linked, "r1");
      const item = linked.locator(`li.step[data-seq="${decision.seq}"]`);
      assert.equal(await item.locator(":scope > details").getAttribute("open"), "");
      assert.ok(await item.locator(".cancel").isVisible());
      const link = await item.locator("a.permalink").getAttribute("href");
      assert.equal(link, `#run=r1&scenario=3&step=${decision.seq}`);
      assert.equal(await linked.getAttribute("#scenario-3 a.permalink", "href"), "#run=r1&scenario=3");
    } finally {
      await linked.close();
    }
  });

  test("every preset: the steps equal the run's JSON Lines, the outcome row its counters; a screenshot each", async (t) => {
    const lab = await api<{ scenarios: { id: number; title: string }[] }>("/api/lab");
    assert.ok(lab.scenarios.length >= 7);
    for (const scenario of lab.scenarios) {
      const run = await runFromPage(page, () => page.click(`button[data-preset="${scenario.id}"]`));
      presetRuns.set(scenario.id, run);
      const events = await assertStepsMatch(page, run);
      const outcome = events.find((e) => e.type === "outcome" && e.scenario === scenario.id) as JsonEvent;
      const row = page.locator(`[data-outcome="${scenario.id}"]`);
      assert.equal(await row.getAttribute("data-observed"), outcome.observed);
      assert.equal(await row.getAttribute("data-attacker-bytes"), String(outcome.attackerAppBytes));
      assert.equal(await row.getAttribute("data-backend-hits"), String(outcome.backendHits));
      const shot = join(artifacts, `preset-${scenario.id}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(existsSync(shot));
    }
    t.diagnostic(`screenshots: ${artifacts}`);
  });

  test("axe-core: no serious or critical violation at 1280 px and at 375 px; reduced motion honoured", async () => {
    // The page's CSP (default-src 'self') refuses inline scripts, axe's injected one too: the check runs in a
    // context that bypasses CSP, on the same page and run.
    await assert.rejects(
      page.addScriptTag({ content: "globalThis.injected = 1" }),
      /Content Security Policy/,
    );
    errors.splice(0, errors.length, ...errors.filter((e) => !e.includes("Content Security Policy")));
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    const checked = await context.newPage();
    checked.on("request", (r) => requests.push(r.url()));
    try {
      // Scenario 2 (the stolen token, the attacker's log) and scenario 3 (the ✕, the pin set on each platform),
      // every step of each opened, at both widths.
      for (const scenario of [2, 3]) {
        const run = presetRuns.get(scenario) as string;
        assert.ok(run, `the presets' test ran scenario ${scenario}`);
        await checked.setViewportSize({ width: 1280, height: 900 });
        await checked.goto(`${origin}/#run=${run}`);
        await waitForRunEnd(checked, run);
        await checked.$$eval("li.step > details", (all) => {
          for (const details of all as unknown as { open: boolean }[]) details.open = true;
        });
        await checked.selectOption("#platform-scenario", String(scenario));
        if (scenario === 3) {
          await checked.waitForSelector('#platform-list [data-platform="android-nsc"]', {
            state: "attached",
          });
        }
        assert.deepEqual(await axeSerious(checked), [], `scenario ${scenario} at 1280 px`);
        await checked.setViewportSize({ width: 375, height: 812 });
        assert.deepEqual(await axeSerious(checked), [], `scenario ${scenario} at 375 px`);
      }
      // The control: the same check reports a nameless button (critical) and unreadable text (serious).
      await checked.evaluate(() => {
        const doc = (
          globalThis as unknown as {
            document: { querySelector(s: string): { insertAdjacentHTML(w: string, h: string): void } };
          }
        ).document;
        doc
          .querySelector("main")
          ?.insertAdjacentHTML(
            "beforeend",
            '<button id="control"></button><p id="control-text" style="color:#eee;background:#fff">faint</p>',
          );
      });
      const control = await axeSerious(checked);
      assert.ok(
        control.some((v) => v.includes("button-name")) && control.some((v) => v.includes("color-contrast")),
        control.join("; "),
      );
      await checked.reload();
      const width = await checked.evaluate(() => {
        const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } })
          .document;
        return doc.documentElement.scrollWidth;
      });
      assert.ok(width <= 375, `no sideways scrolling at 375 px (${width} px wide)`);
      await checked.screenshot({ path: join(artifacts, "scenario-3-375.png"), fullPage: false });
      const narration = await checked.locator('[aria-live="polite"]').textContent();
      assert.match(narration ?? "", /\S/);
      const animation = () =>
        checked.$eval(
          "li.step",
          (li) =>
            (
              globalThis as unknown as { getComputedStyle(e: unknown): { animationName: string } }
            ).getComputedStyle(li).animationName,
        );
      await checked.emulateMedia({ reducedMotion: "reduce" });
      assert.equal(await animation(), "none");
      await checked.emulateMedia({ reducedMotion: "no-preference" });
      assert.notEqual(await animation(), "none");
    } finally {
      await context.close();
    }
  });

  test("what if: the root key pinned, the attacker's CA installed, via the proxy: drawn and ended as the counters say", async () => {
    // "Start from" a preset fills the form with that preset's own parameters (scenario 7: expired pins).
    const lab = await api<{ scenarios: { id: number; whatIf: Record<string, unknown> | null }[] }>(
      "/api/lab",
    );
    const seven = lab.scenarios.find((sc) => sc.id === 7)?.whatIf as Record<string, boolean | string[]>;
    await page.selectOption("#whatif-from", "7");
    for (const name of ["attackerCaInstalled", "viaProxy", "rotated", "expired"]) {
      assert.equal(await page.isChecked(`#whatif input[name="${name}"]`), seven[name], name);
    }
    for (const pin of ["leaf", "intermediate", "root", "backup"]) {
      const want = (seven["pins"] as string[]).includes(pin);
      assert.equal(await page.isChecked(`#whatif input[name="pin"][value="${pin}"]`), want, pin);
    }
    const run = await runFromPage(page, async () => {
      await page.selectOption("#whatif-from", "");
      for (const name of ["attackerCaInstalled", "viaProxy", "rotated", "expired"]) {
        await page.setChecked(
          `#whatif input[name="${name}"]`,
          name === "attackerCaInstalled" || name === "viaProxy",
        );
      }
      for (const pin of ["leaf", "intermediate", "root", "backup"]) {
        await page.setChecked(`#whatif input[name="pin"][value="${pin}"]`, pin === "root");
      }
      await page.click("#whatif-run");
    });
    const info = await api<{ request: unknown }>(`/api/runs/${run}`);
    assert.deepEqual(info.request, {
      whatIf: { attackerCaInstalled: true, viaProxy: true, rotated: false, expired: false, pins: ["root"] },
    });
    const events = await assertStepsMatch(page, run);
    const outcome = events.find((e) => e.type === "outcome") as JsonEvent;
    // The forged chain ends at the attacker's CA, not at the pinned root: the counters say blocked.
    assert.equal(outcome.observed, "blocked");
    assert.equal(outcome.attackerAppBytes, 0);
    const row = page.locator(`[data-outcome="${outcome.scenario}"]`);
    assert.equal(await row.getAttribute("data-observed"), "blocked");
    assert.equal(await row.getAttribute("data-attacker-bytes"), "0");
    assert.equal(await row.getAttribute("data-backend-hits"), String(outcome.backendHits));
    assert.equal(
      await page
        .locator(`li.step[data-scenario="${outcome.scenario}"][data-step="decision"] .cancel`)
        .count(),
      1,
    );
    await page.screenshot({ path: join(artifacts, "what-if-root-pinned.png"), fullPage: true });
  });

  test("a reload mid-run loses no step; no request ever left 127.0.0.1", async () => {
    const lab = await api<{ scenarios: { id: number }[] }>("/api/lab");
    await page.click('button[data-preset="all"]');
    await page.waitForFunction(() => {
      const doc = (globalThis as unknown as { document: { body: El; querySelector(s: string): El | null } })
        .document;
      return doc.body.getAttribute("data-run") !== "r1" && doc.querySelector("li.step") !== null;
    });
    const run = (await page.getAttribute("body", "data-run")) as string;
    assert.equal(
      (await api<{ status: string }>(`/api/runs/${run}`)).status,
      "running",
      "the run is still going",
    );
    const seenBefore = (await rendered(page)).length;
    await page.reload();
    assert.equal(new URL(page.url()).hash, `#run=${run}`, "the reloaded page shows the same run");
    await waitForRunEnd(page, run);
    const events = await assertStepsMatch(page, run);
    assert.ok(seenBefore < expectedSteps(events).length, "the reload came before the run's last step");
    assert.equal(events.filter((e) => e.type === "outcome").length, lab.scenarios.length);

    assert.deepEqual(errors, [], "no page error, no failed load");
    assert.ok(requests.length > 20);
    assert.deepEqual(
      requests.filter((u) => !u.startsWith(`${origin}/`) || new URL(u).hostname !== "127.0.0.1"),
      [],
      "every request went to the lab's own 127.0.0.1 origin",
    );
    assert.ok(
      requests.some((u) => u.includes("/events")),
      "the steps came over server-sent events",
    );
  });
});
