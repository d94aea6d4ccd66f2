// What a run leaves to check outside the lab: every pin's openssl command (run in a real shell), the NSS key log
// for Wireshark, the certificates; and a what-if run started by POST, ending as its counters say.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parsePolicy } from "@keypin/core";
import { type LabEvent, labWhatIfScenario } from "@keypin/lab";
import { type LabWeb, startLabWeb } from "@keypin/lab-web";
import { opensslPinOfCertificateFile } from "@keypin/testkit";
import { readSse } from "./http-client.js";

const run = promisify(execFile);

async function eventsOf(web: LabWeb, id: string): Promise<LabEvent[]> {
  const { events, ended } = await readSse(`${web.url}api/runs/${id}/events`);
  assert.equal(ended, true);
  return events.filter((e) => e.event === "lab").map((e) => JSON.parse(e.data) as LabEvent);
}

async function json<T>(url: string): Promise<T> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return (await response.json()) as T;
}

describe("a run's files", () => {
  let web: LabWeb;
  let events: LabEvent[];
  before(async () => {
    web = await startLabWeb({ assetsDir: "/nonexistent" });
    events = await eventsOf(web, "r1");
  });
  after(() => web.close());

  it("lists every certificate of every extract-pin step, and each openssl command prints exactly its pin in sh", async () => {
    const pins = await json<
      { scenario: number; seq: number; pin: string; subject: string; file: string; command: string }[]
    >(`${web.url}api/runs/r1/pins`);
    const expected = events.flatMap((e, seq) =>
      e.type === "step" && e.step === "extract-pin"
        ? e.data.chainPins.map((c) => ({ scenario: e.scenario, seq, pin: c.pin, subject: c.subject }))
        : [],
    );
    assert.ok(expected.length >= 7, `${expected.length} pins`);
    assert.deepEqual(
      pins.map(({ scenario, seq, pin, subject }) => ({ scenario, seq, pin, subject })),
      expected,
    );
    for (const entry of pins) {
      const { stdout } = await run("sh", ["-c", entry.command]);
      assert.equal(stdout, `${entry.pin}\n`, entry.command);
      // The testkit's own openssl oracle agrees about the file.
      assert.equal(opensslPinOfCertificateFile(entry.file), entry.pin);
    }
  });

  it("offers the certificates it wrote for download, byte for byte, and never a private key", async () => {
    const files = await json<{ name: string; size: number }[]>(`${web.url}api/runs/r1/files`);
    const pems = files.filter((f) => f.name.endsWith(".pem"));
    assert.ok(pems.length >= 4, files.map((f) => f.name).join(", "));
    const pins = await json<{ file: string }[]>(`${web.url}api/runs/r1/pins`);
    for (const pin of pins)
      assert.ok(
        pems.some((f) => pin.file.endsWith(`/${f.name}`)),
        pin.file,
      );
    for (const pem of pems) {
      const text = await (await fetch(`${web.url}api/runs/r1/files/${pem.name}`)).text();
      assert.equal(Buffer.byteLength(text), pem.size);
      assert.match(text, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/);
      assert.doesNotMatch(text, /PRIVATE KEY/);
    }
  });

  it("offers sslkeylog.txt in the NSS key log format: each TLS 1.3 session of the app with its five secrets", async () => {
    const response = await fetch(`${web.url}api/runs/r1/files/sslkeylog.txt`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await response.text();
    const lines = text.trimEnd().split("\n");
    const sessions = new Map<string, Set<string>>();
    for (const line of lines) {
      const match = /^([A-Z_0-9]+) ([0-9a-f]{64}) ([0-9a-f]{64,96})$/.exec(line);
      assert.ok(match, `NSS key log line: ${line.slice(0, 60)}`);
      const [, label, random] = match as unknown as [string, string, string];
      if (!sessions.has(random)) sessions.set(random, new Set());
      sessions.get(random)!.add(label);
    }
    const requests = events.filter((e) => e.type === "step" && e.step === "request").length;
    assert.ok(sessions.size >= requests, `${sessions.size} sessions for ${requests} requests`);
    for (const labels of sessions.values()) {
      assert.deepEqual([...labels].sort(), [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_TRAFFIC_SECRET_0",
      ]);
    }
  });

  it("offers each pinned scenario's pin set as keypin-<N>.json, the policy its request steps carry", async () => {
    for (const scenario of [3, 6, 7]) {
      const text = await (await fetch(`${web.url}api/runs/r1/files/keypin-${scenario}.json`)).text();
      const request = events.find(
        (e) => e.type === "step" && e.step === "request" && e.scenario === scenario && e.data["policy"],
      );
      assert.ok(request && request.type === "step");
      assert.deepEqual(JSON.parse(text), request.data["policy"]);
      parsePolicy(JSON.parse(text));
    }
  });
});

describe("a what-if run", () => {
  let web: LabWeb;
  before(async () => {
    web = await startLabWeb({ assetsDir: "/nonexistent" });
    await eventsOf(web, "r1");
  });
  after(() => web.close());

  const post = (whatIf: unknown) =>
    fetch(`${web.url}api/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ whatIf }),
    });

  it("pinning the root key with the attacker's CA installed ends blocked, as the counters say (0 bytes, 0 hits)", async () => {
    const whatIf = {
      attackerCaInstalled: true,
      viaProxy: true,
      pins: ["root"],
      rotated: false,
      expired: false,
    };
    const response = await post(whatIf);
    assert.equal(response.status, 201);
    const { id } = (await response.json()) as { id: string };
    const events = await eventsOf(web, id);
    assert.ok(
      events.every((e) => e.type === "summary" || e.scenario === labWhatIfScenario || e.scenario === null),
    );
    const outcome = events.find((e) => e.type === "outcome");
    assert.ok(outcome && outcome.type === "outcome");
    assert.equal(outcome.observed, "blocked");
    assert.equal(outcome.attackerAppBytes, 0);
    assert.equal(outcome.backendHits, 0);
    assert.equal(outcome.tokenLeaked, false);
    assert.equal(outcome.ok, true);
    const status = await json<{ status: string; request: unknown }>(`${web.url}api/runs/${id}`);
    assert.deepEqual(status.request, { whatIf });
    assert.equal(status.status, "done");
    // Its platforms are the root pin's.
    const platforms = await json<{ policy: unknown; platforms: { id: string; text: string }[] }>(
      `${web.url}api/runs/${id}/platforms?scenario=${labWhatIfScenario}`,
    );
    const pins = parsePolicy(platforms.policy).policy.domains.flatMap((d) => d.pins);
    assert.deepEqual(
      pins.map((p) => p.role),
      ["root"],
    );
    assert.ok(platforms.platforms.find((p) => p.id === "android-nsc")!.text.includes(pins[0]!.pin.slice(7)));
  });

  it("no pins with the attacker's CA installed ends with the token stolen, bytes counted by the proxy", async () => {
    const response = await post({
      attackerCaInstalled: true,
      viaProxy: true,
      pins: [],
      rotated: false,
      expired: false,
    });
    const { id } = (await response.json()) as { id: string };
    const events = await eventsOf(web, id);
    const outcome = events.find((e) => e.type === "outcome");
    assert.ok(outcome && outcome.type === "outcome");
    assert.equal(outcome.observed, "token-stolen");
    assert.equal(outcome.tokenLeaked, true);
    assert.ok(outcome.attackerAppBytes > 0);
    assert.equal(outcome.backendHits, 1);
  });
});
