// The lab server's routes over real HTTP on 127.0.0.1: the run's events (SSE, JSON Lines, runLab's own),
// resume with Last-Event-ID, runs started by POST, the pin set's platforms and downloads.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parsePolicy } from "@keypin/core";
import { type LabEvent, labScenarios, runLab } from "@keypin/lab";
import { type LabWeb, startLabWeb } from "@keypin/lab-web";
import { labPlatforms } from "../src/platforms.js";
import { readSse, type SseEvent } from "./http-client.js";

/** What identifies an event in the story: its type, scenario, step and actor (not its timestamps or keys). */
function shape(event: LabEvent): string {
  return event.type === "step"
    ? `${event.scenario}:${event.type}:${event.step}:${event.actor}`
    : `${event.scenario}:${event.type}`;
}

async function waitForEnd(web: LabWeb, id: string): Promise<Record<string, unknown>> {
  const { events } = await readSse(`${web.url}api/runs/${id}/events`);
  assert.equal(events.at(-1)?.event, "end");
  const response = await fetch(`${web.url}api/runs/${id}`);
  return (await response.json()) as Record<string, unknown>;
}

function labEvents(events: SseEvent[]): LabEvent[] {
  return events.filter((e) => e.event === "lab").map((e) => JSON.parse(e.data) as LabEvent);
}

describe("the default run", () => {
  let web: LabWeb;
  let own: LabEvent[];

  before(async () => {
    web = await startLabWeb({ assetsDir: "/nonexistent" });
    own = [];
    await runLab({ onEvent: (e) => own.push(e) });
  });
  after(() => web.close());

  it("streams as SSE exactly what events.jsonl holds, in runLab's own order and shape, numbered from 0", async () => {
    const { events, status, contentType } = await readSse(`${web.url}api/runs/r1/events`);
    assert.equal(status, 200);
    assert.match(contentType ?? "", /^text\/event-stream/);
    const end = events.at(-1)!;
    assert.equal(end.event, "end");
    assert.deepEqual(JSON.parse(end.data), { status: "done" });
    const lab = events.filter((e) => e.event === "lab");
    assert.deepEqual(
      lab.map((e) => e.id),
      lab.map((_, i) => String(i)),
    );

    const jsonl = await (await fetch(`${web.url}api/runs/r1/events.jsonl`)).text();
    const lines = jsonl.trimEnd().split("\n");
    assert.deepEqual(
      lab.map((e) => e.data),
      lines,
    );
    const streamed = labEvents(events);
    assert.deepEqual(streamed.map(shape), own.map(shape));
    assert.equal(streamed.length, own.length);
    assert.deepEqual(
      streamed.filter((e) => e.type === "outcome").map((e) => e.scenario),
      labScenarios.map((s) => s.id),
    );
    assert.equal(streamed.at(-1)?.type, "summary");
  });

  it("lists the scenarios and the run in /api/lab, and the run's summary in /api/runs/r1", async () => {
    const lab = (await (await fetch(`${web.url}api/lab`)).json()) as {
      scenarios: { id: number; title: string }[];
      runs: { id: string; status: string }[];
      defaultRun: string;
    };
    assert.deepEqual(
      lab.scenarios.map((s) => [s.id, s.title]),
      labScenarios.map((s) => [s.id, s.title]),
    );
    assert.equal(lab.defaultRun, "r1");
    assert.deepEqual(lab.runs, [{ id: "r1", status: "done" }]);
    const run = await waitForEnd(web, "r1");
    assert.equal(run["status"], "done");
    assert.equal((run["summary"] as { ok: boolean }).ok, true);
  });

  it("offers a keypin.json that @keypin/core's parsePolicy reads, the pin set of the run's first pinned scenario", async () => {
    const files = (await (await fetch(`${web.url}api/runs/r1/files`)).json()) as {
      name: string;
      size: number;
    }[];
    const listed = files.find((f) => f.name === "keypin.json");
    assert.ok(listed, JSON.stringify(files));
    const response = await fetch(`${web.url}api/runs/r1/files/keypin.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-disposition") ?? "", /attachment; filename="keypin.json"/);
    const text = await response.text();
    assert.equal(Buffer.byteLength(text), listed.size);
    const { policy } = parsePolicy(JSON.parse(text));
    const events = labEvents((await readSse(`${web.url}api/runs/r1/events`)).events);
    const firstPinned = events.find(
      (e) => e.type === "step" && e.step === "request" && (e.data.pins as string[]).length > 0,
    )!;
    assert.deepEqual(
      policy.domains.flatMap((d) => d.pins.map((p) => p.pin)).sort(),
      [...(firstPinned.type === "step" ? (firstPinned.data.pins as string[]) : [])].sort(),
    );
  });

  it("renders scenario 3's pin set for every platform with @keypin/export, with ATS's AND rule named", async () => {
    const body = (await (await fetch(`${web.url}api/runs/r1/platforms?scenario=3`)).json()) as {
      scenario: number;
      policy: unknown;
      platforms: { id: string; text: string; notes: string[]; filename: string }[];
    };
    assert.equal(body.scenario, 3);
    assert.ok(body.policy);
    assert.deepEqual(
      body.platforms.map((p) => p.id),
      labPlatforms.map((p) => p.id),
      "every export format the page shows (src/platforms.test.ts pins which)",
    );
    const pins = parsePolicy(body.policy).policy.domains.flatMap((d) => d.pins.map((p) => p.pin.slice(7)));
    for (const platform of body.platforms) {
      for (const pin of pins) assert.ok(platform.text.includes(pin), `${platform.id} carries ${pin}`);
    }
    const ats = body.platforms.find((p) => p.id === "ios-ats")!;
    assert.ok(
      ats.notes.some((n) => /AND/.test(n)),
      ats.notes.join("\n"),
    );
    const okhttp = body.platforms.find((p) => p.id === "okhttp-kotlin")!;
    assert.ok(okhttp.notes.some((n) => /any one of the host's pins/.test(n)));
    // Scenario 1's app does not pin: nothing to render.
    const none = (await (await fetch(`${web.url}api/runs/r1/platforms?scenario=1`)).json()) as {
      policy: unknown;
      platforms: unknown[];
    };
    assert.deepEqual(none, { scenario: 1, policy: null, platforms: [] });
  });

  it("says when a platform drops the expired pin set's expiry (scenario 7), and that Android stops pinning after it", async () => {
    const body = (await (await fetch(`${web.url}api/runs/r1/platforms?scenario=7`)).json()) as {
      platforms: { id: string; notes: string[] }[];
    };
    const notes = (id: string) => body.platforms.find((p) => p.id === id)!.notes.join("\n");
    assert.match(notes("ios-ats"), /ATS pins have no expiry/);
    assert.match(notes("android-nsc"), /After it, the domain is not pinned/);
  });

  it("answers a platforms query without a scenario with 400, and one for a scenario not in the run with 404", async () => {
    const missing = await fetch(`${web.url}api/runs/r1/platforms`);
    assert.equal(missing.status, 400);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, "ERR_LAB_WEB_REQUEST");
    const absent = await fetch(`${web.url}api/runs/r1/platforms?scenario=99`);
    assert.equal(absent.status, 404);
  });
});

describe("resuming the event stream", () => {
  let web: LabWeb;
  before(async () => {
    web = await startLabWeb({ assetsDir: "/nonexistent", eventDelayMs: 15 });
  });
  after(() => web.close());

  it("with Last-Event-ID mid-run, replays only what came after that id, then the rest live: nothing lost, nothing twice", async () => {
    const first = await readSse(`${web.url}api/runs/r1/events`, {
      stop: (events) => events.filter((e) => e.event === "lab").length >= 6,
    });
    assert.equal(first.ended, false);
    const seen = first.events.filter((e) => e.event === "lab");
    const lastId = seen.at(-1)!.id!;
    // The run is still going: the resume below is mid-run.
    const status = (await (await fetch(`${web.url}api/runs/r1`)).json()) as { status: string };
    assert.equal(status.status, "running");

    const second = await readSse(`${web.url}api/runs/r1/events`, { lastEventId: lastId });
    assert.equal(second.ended, true);
    const rest = second.events.filter((e) => e.event === "lab");
    assert.equal(rest[0]?.id, String(Number(lastId) + 1));
    const joined = [...seen, ...rest];
    const jsonl = (await (await fetch(`${web.url}api/runs/r1/events.jsonl`)).text()).trimEnd().split("\n");
    assert.deepEqual(
      joined.map((e) => e.data),
      jsonl,
    );
    assert.deepEqual(
      joined.map((e) => e.id),
      jsonl.map((_, i) => String(i)),
    );
  });

  it("treats a Last-Event-ID that is no number as none (the whole stream again)", async () => {
    const { events } = await readSse(`${web.url}api/runs/r1/events`, { lastEventId: "-5; drop table" });
    assert.equal(events.find((e) => e.event === "lab")?.id, "0");
  });
});

describe("runs started by POST /api/runs", () => {
  let web: LabWeb;
  before(async () => {
    web = await startLabWeb({ assetsDir: "/nonexistent" });
    await waitForEnd(web, "r1");
  });
  after(() => web.close());

  it("runs the presets asked for, and ends with the outcome the counters say (scenario 3: blocked, 0 bytes to the attacker)", async () => {
    const response = await fetch(`${web.url}api/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ scenarios: [3] }),
    });
    assert.equal(response.status, 201);
    const { id } = (await response.json()) as { id: string };
    assert.equal(id, "r2");
    const run = await waitForEnd(web, id);
    assert.equal(run["status"], "done");
    assert.deepEqual(run["request"], { scenarios: [3] });
    const events = labEvents((await readSse(`${web.url}api/runs/${id}/events`)).events);
    const outcome = events.find((e) => e.type === "outcome");
    assert.ok(outcome && outcome.type === "outcome");
    assert.equal(outcome.observed, "blocked");
    assert.equal(outcome.attackerAppBytes, 0);
    assert.equal(outcome.backendHits, 0);
    assert.equal(outcome.ok, true);
  });
});

describe("the server's bounds", () => {
  it("keeps the last 16 runs: an older run answers 404 and its folder is gone", async () => {
    const web = await startLabWeb({ assetsDir: "/nonexistent" });
    try {
      await waitForEnd(web, "r1");
      const { existsSync } = await import("node:fs");
      const { join } = await import("node:path");
      assert.equal(existsSync(join(web.dir, "r1")), true);
      for (let i = 2; i <= 17; i++) {
        const response = await fetch(`${web.url}api/runs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"scenarios":[1]}',
        });
        assert.equal(response.status, 201);
        await waitForEnd(web, ((await response.json()) as { id: string }).id);
      }
      const lab = (await (await fetch(`${web.url}api/lab`)).json()) as { runs: { id: string }[] };
      assert.equal(lab.runs.length, 16);
      assert.equal(lab.runs[0]?.id, "r2");
      assert.equal((await fetch(`${web.url}api/runs/r1`)).status, 404);
      for (let i = 0; i < 100 && existsSync(join(web.dir, "r1")); i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(existsSync(join(web.dir, "r1")), false);
      assert.equal(existsSync(join(web.dir, "r17")), true);
    } finally {
      await web.close();
    }
  });

  it("listens on ::1 when asked, answering Host [::1]:<port> only there, and refuses any other address", async () => {
    const web = await startLabWeb({ assetsDir: "/nonexistent", host: "::1" });
    try {
      assert.equal(web.url, `http://[::1]:${web.port}/`);
      const response = await fetch(`${web.url}api/lab`);
      assert.equal(response.status, 200);
      await response.arrayBuffer();
      await waitForEnd(web, "r1");
    } finally {
      await web.close();
    }
    for (const host of ["0.0.0.0", "::", "192.168.1.1"]) {
      await assert.rejects(startLabWeb({ host: host as "127.0.0.1" }), /loopback address only/);
    }
  });
});
