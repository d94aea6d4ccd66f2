// The terminal narration of whole runs: `--verbose` is the narration as it was before the short one (a run
// recorded with that narrator, events and text, in fixtures/), and the short default keeps every step and
// every observed value of a live run, read from the run's own events, in far fewer lines.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  type LabEvent,
  LabNarrator,
  type LabOutcomeEvent,
  type LabStepEvent,
  labScenarios,
  runLab,
} from "@keypin/lab";

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), "utf8");
const lineCount = (text: string): number => text.split("\n").length - 1;

/** The short narration writes a pin as `sha256/` and its first 8 base64 characters. */
const brief = (pin: string): string => `${pin.slice(0, "sha256/".length + 8)}…`;
/** A subject's common name (`CN=Lab Public CA R1, O=…` → `Lab Public CA R1`). */
const cn = (name: string): string => (name.split(",")[0] ?? name).replace(/^CN=/, "");

/** Each event with what the narrator printed for it, its wrapped lines joined again (wrapping breaks at spaces). */
function narrate(
  events: LabEvent[],
  narrator: LabNarrator,
): { event: LabEvent; text: string; flat: string }[] {
  return events.map((event) => {
    const text = narrator.render(event);
    return { event, text, flat: text.replace(/\n {4,}/g, " ") };
  });
}

describe("LabNarrator on whole runs", () => {
  it("with verbose, prints exactly the narration of before the short one (a recorded run, events and text)", () => {
    const events = fixture("lab-run.jsonl")
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as LabEvent);
    const verbose = new LabNarrator({ verbose: true });
    const text = events.map((event) => verbose.render(event)).join("");
    assert.equal(text, fixture("lab-run.verbose.txt"));
    assert.equal(lineCount(text), 274);
  });

  it("by default keeps every step, counter and observed value of every scenario, in at most 0.6 × the verbose lines", async () => {
    const events: LabEvent[] = [];
    await runLab({ onEvent: (event) => events.push(event) });
    const short = narrate(events, new LabNarrator());
    const verbose = narrate(events, new LabNarrator({ verbose: true }));
    const shortText = short.map((s) => s.text).join("");
    const verboseText = verbose.map((s) => s.text).join("");

    const setup = events.find((e): e is LabStepEvent => e.type === "step" && e.scenario === null);
    const token = String(setup?.data["token"]);
    assert.match(token, /^lab_fake_/);
    assert.ok(shortText.includes(token), "the run's token is said");

    const steps = short.filter(
      (s): s is { event: LabStepEvent; text: string; flat: string } => s.event.type === "step",
    );
    const scenarios = new Set(events.flatMap((e) => (e.scenario === null ? [] : [e.scenario])));
    assert.deepEqual(
      [...scenarios],
      labScenarios.map((s) => s.id),
      "the run played every scenario",
    );
    for (const id of scenarios) {
      const mine = steps.filter((s) => s.event.scenario === id);
      const where = (s: { event: LabStepEvent }) =>
        `scenario ${id}, step ${s.event.step}: ${JSON.stringify(s.event.data)}`;
      // Every step of the story has its line(s), in order, each with the step's values.
      assert.deepEqual(
        new Set(mine.map((s) => s.event.step)),
        new Set(
          events.filter((e) => e.type === "step" && e.scenario === id).map((e) => (e as LabStepEvent).step),
        ),
      );
      for (const s of mine) {
        const { data } = s.event;
        assert.notEqual(s.text.trim(), "", where(s));
        switch (s.event.step) {
          case "request":
            assert.match(s.flat, /GET|the same request/, where(s));
            break;
          case "intercept":
            assert.ok(s.flat.includes(String(data["subject"])), where(s));
            for (const appended of (data["appended"] as string[] | undefined) ?? []) {
              assert.ok(s.flat.includes(cn(appended)), where(s));
            }
            break;
          case "certificate":
            assert.ok(
              s.flat.includes(`${data["subject"]}, issued by ${cn(String(data["issuer"]))}`),
              where(s),
            );
            break;
          case "trust":
            for (const subject of data["path"] as string[]) assert.ok(s.flat.includes(cn(subject)), where(s));
            break;
          case "extract-pin":
            for (const entry of data["chainPins"] as { pin: string }[]) {
              assert.ok(s.flat.includes(brief(entry.pin)), where(s));
            }
            break;
          case "compare":
            if ("matched" in data) {
              // The pins compared, all of them, and the key that matched.
              for (const pin of data["expectedPins"] as string[])
                assert.ok(s.flat.includes(brief(pin)), where(s));
              const matched = data["matched"] as { subject: string } | null;
              if (matched) assert.ok(s.flat.includes(cn(matched.subject)), where(s));
              else assert.match(s.flat, /None of/, where(s));
            } else {
              assert.match(s.flat, data["reason"] === "expired" ? /expired/ : /No pin set/, where(s));
            }
            break;
          case "decision":
            if (typeof data["code"] === "string") assert.ok(s.flat.includes(data["code"]), where(s));
            break;
          case "decrypt":
            if (typeof data["appBytes"] === "number") {
              assert.ok(s.flat.includes(`${data["appBytes"]} bytes`), where(s));
            }
            if (data["headers"]) {
              const authorization = (data["headers"] as Record<string, string>)["authorization"];
              assert.ok(
                authorization && s.flat.includes(authorization),
                `the token the proxy logged: ${where(s)}`,
              );
            }
            break;
          case "serve": {
            const hits = Number(data["backendHits"]);
            assert.match(
              s.flat,
              hits === 0 ? /served nothing/ : new RegExp(`[Ss]erved ${hits} request`),
              where(s),
            );
            break;
          }
          case "response":
            assert.ok(s.flat.includes(` ${data["status"]} `), where(s));
            break;
          default:
            break;
        }
      }
      // The scenario's counters, on its outcome line, as the run counted them.
      const outcome = events.find((e): e is LabOutcomeEvent => e.type === "outcome" && e.scenario === id)!;
      const outcomeText = short.find((s) => s.event === outcome)!.flat;
      assert.ok(outcomeText.includes(`proxy read ${outcome.attackerAppBytes} bytes`), outcomeText);
      assert.ok(outcomeText.includes(`backend served ${outcome.backendHits}`), outcomeText);
      assert.ok(outcomeText.includes(outcome.observed), outcomeText);
      assert.ok(outcomeText.includes(`token leaked: ${outcome.tokenLeaked ? "yes" : "no"}`), outcomeText);
      // The token shows in the proxy's lines exactly where the proxy logged it (scenarios 2 and 7).
      const proxyText = mine
        .filter((s) => s.event.actor === "proxy")
        .map((s) => s.text)
        .join("");
      assert.equal(
        proxyText.includes(token),
        outcome.tokenLeaked,
        `scenario ${id}: token in the proxy's lines`,
      );
    }
    assert.ok(shortText.includes("Summary"));

    const [shortLines, verboseLines] = [lineCount(shortText), lineCount(verboseText)];
    assert.ok(
      shortLines <= 0.6 * verboseLines,
      `the short run is ${shortLines} lines, the verbose one ${verboseLines}: expected at most 0.6 × ${verboseLines}`,
    );
  });
});
