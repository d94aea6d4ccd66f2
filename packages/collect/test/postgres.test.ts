// keypin collect on PostgreSQL (issue 17): a real server from Debian's postgresql, started by the test in a
// temporary directory; two collector processes share it with no other coordination, and concurrent
// identical reports through both give one group whose count is exact.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { openPostgresStore } from "@keypin/collect";
import {
  createChain,
  type PgCluster,
  pgUnavailable,
  startPgCluster,
  type TestChain,
  unrelatedPin,
} from "@keypin/testkit";
import { type CollectorProcess, spawnCollector } from "./cli-process.js";
import { getJson, post, rfc7469Report, trustKitAndroidReport, trustKitIosReport } from "./helpers.js";

const skip = pgUnavailable();
let cluster: PgCluster | undefined;
let chain: TestChain;
const processes: CollectorProcess[] = [];
// The fleet's alert webhook: every alert either collector sends.
const alerts: { event: string; host: string; minute?: string }[] = [];
const webhook = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    alerts.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    res.writeHead(204).end();
  });
});

describe("PostgreSQL: a fleet of collectors sharing one database", { skip }, () => {
  before(async () => {
    cluster = await startPgCluster();
    await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
    chain = await createChain("p256", ["fleet.keypin.test"], "fleet");
  });
  after(async () => {
    for (const p of processes) await p.stop();
    cluster?.stop();
    webhook.close();
  });

  test("two collectors started at once on a fresh database both migrate and serve", async () => {
    const url = (cluster as PgCluster).url;
    const hook = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
    const args = [
      "--listen",
      "127.0.0.1:0",
      "--database",
      url,
      "--alert-webhook",
      hook,
      "--alert-rate",
      "100",
    ];
    processes.push(
      ...(await Promise.all([spawnCollector(undefined, { args }), spawnCollector(undefined, { args })])),
    );
    for (const p of processes)
      assert.equal((await getJson(p.url.replace(/report$/, "api/groups"))).status, 200);
  });

  test("1,200 identical reports, 60 at a time through both collectors: one group, count exactly 1,200", async () => {
    const [a, b] = processes as [CollectorProcess, CollectorProcess];
    const pins = [unrelatedPin(), unrelatedPin()];
    const body = JSON.stringify(trustKitAndroidReport(chain, "fleet.keypin.test", 443, pins));
    const statuses: number[] = [];
    for (let round = 0; round < 20; round++) {
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) => post(i % 2 === 0 ? a.url : b.url, body)),
      );
      statuses.push(...answers.map((x) => x.status));
    }
    assert.equal(statuses.filter((s) => s === 201).length, 1200, `statuses: ${[...new Set(statuses)]}`);
    for (const p of [a, b]) {
      const { json } = await getJson(p.url.replace(/report$/, "api/groups?host=fleet.keypin.test"));
      assert.equal(json.groups.length, 1);
      assert.equal(json.groups[0]?.count, 1200, "each collector sees the shared count");
      assert.equal(json.groups[0]?.classification, "interception");
    }
    const { json } = await getJson(a.url.replace(/report$/, "api/series?host=fleet.keypin.test"));
    assert.equal(
      json.series.reduce((s: number, p: { count: number }) => s + p.count, 0),
      1200,
    );
    assert.equal(a.stderr() + b.stderr(), "", "no store errors");
    // Alerts: the group is new once across the fleet, and each minute that reached 100 alerts once.
    const busyMinutes = json.series
      .filter((p: { count: number }) => p.count >= 100)
      .map((p: { minute: string }) => p.minute);
    const fleet = () => alerts.filter((x) => x.host === "fleet.keypin.test");
    for (let i = 0; i < 250 && fleet().length < 1 + busyMinutes.length; i++)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // any duplicate would arrive by now
    assert.equal(
      fleet().filter((x) => x.event === "new-group").length,
      1,
      "one new-group alert from two collectors",
    );
    assert.deepEqual(
      fleet()
        .filter((x) => x.event === "rate")
        .map((x) => x.minute)
        .sort(),
      busyMinutes.sort(),
      "one rate alert per minute that reached the threshold",
    );
  });

  test("every report shape, and the 400s, through a PostgreSQL-backed collector", async () => {
    const [a] = processes as [CollectorProcess];
    const pins = [unrelatedPin()];
    for (const [report, source] of [
      [trustKitIosReport(chain, "shapes.keypin.test", 1, pins), "trustkit-ios"],
      [trustKitAndroidReport(chain, "shapes.keypin.test", 2, pins), "trustkit-android"],
      [rfc7469Report(chain, "shapes.keypin.test", 3, pins), "rfc7469"],
    ] as const) {
      const answer = await post(a.url, JSON.stringify(report));
      assert.equal(answer.status, 201, JSON.stringify(answer.json));
      const { json } = await getJson(a.url.replace(/report$/, "api/groups?host=shapes.keypin.test"));
      assert.ok(
        json.groups.some((g: { source: string }) => g.source === source),
        source,
      );
    }
    assert.equal((await post(a.url, "{")).status, 400);
    assert.equal((await post(a.url, JSON.stringify({ hostname: 1, "known-pins": [] }))).status, 400);
    assert.equal((await post(a.url, "x".repeat(70_000))).status, 413);
  });

  test("the store reopened by a third client sees the same groups (the data is in PostgreSQL); retention deletes", async () => {
    const store = await openPostgresStore((cluster as PgCluster).url);
    const groups = await store.groups({ host: "fleet.keypin.test" });
    const store2Prune = async (before: number): Promise<number> => {
      const n = await store.prune(before);
      return n;
    };
    assert.equal(groups[0]?.count, 1200);
    // Retention on PostgreSQL: nothing is older than a day ago; everything is older than a minute from now.
    assert.equal(await store2Prune(Date.now() - 86_400_000), 0);
    assert.ok((await store2Prune(Date.now() + 60_000)) >= 4);
    assert.deepEqual(await store.groups(), []);
    await store.close();
  });
});
