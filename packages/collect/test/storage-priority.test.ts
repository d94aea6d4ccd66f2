// A flood of made-up reports must not blind the collector (review web3): one client's junk filled the byte
// budget, and a real interception report was then answered 202, not stored, and raised no alert. Now (1) a new
// group of each classification may fill only its share of the budget (misconfiguration half, server change
// three quarters, interception all of it); (2) one client (an address) may add at most a quarter of the
// budget per classification; (3) a report that is not stored still alerts (interception and server change,
// each group once), and the first report not stored sends one storage-full alert. Both stores admit alike,
// so every test runs on SQLite and on a real PostgreSQL.
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type Alert,
  AlertSender,
  openPostgresStore,
  openSqliteStore,
  type ReportStore,
  type StoreOptions,
  startCollector,
} from "@keypin/collect";
import {
  createChain,
  makeTempDir,
  type PgCluster,
  pgUnavailable,
  startPgCluster,
  type TestChain,
  unrelatedPin,
} from "@keypin/testkit";
import pg from "pg";
import { type Answer, trustKitAndroidReport } from "./helpers.js";

/** POSTs a report from the local address `from` (127.0.0.1 unless told: 127.0.0.2 is another client). */
function postFrom(url: string, body: unknown, from = "127.0.0.1"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      agent: false,
      localAddress: from,
      headers: { "content-type": "application/json" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.end(JSON.stringify(body));
  });
}

let proxy: TestChain;
let junk: TestChain;
before(async () => {
  // A proxy CA's chain for every host of the tests: its reports classify as interception.
  proxy = await createChain("p256", ["*.priority.keypin.test"], "mitm-proxy");
  // Anyone's certificate: a report of it for another host, with no pins, is a misconfiguration.
  junk = await createChain("p256", ["cdn.example"], "junk");
});

const interception = (host: string) => trustKitAndroidReport(proxy, host, 443, [unrelatedPin()]);
const misconfiguration = (host: string) => ({
  hostname: host,
  "known-pins": [],
  "validated-certificate-chain": [junk.leaf.pem],
});

/** A webhook on 127.0.0.1 that keeps what it receives. */
async function startWebhook(): Promise<{ url: string; received: Alert[]; close(): void }> {
  const received: Alert[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      received.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => server.close(),
  };
}

/** Posts `make(i)` for i = 0, 1, … until `stop` answers 202s in a row; resolves with how many were stored. */
async function flood(url: string, make: (i: number) => unknown, from?: string): Promise<number> {
  let stored = 0;
  let refusedInARow = 0;
  for (let i = 0; refusedInARow < 3; i++) {
    assert.ok(i < 2000, "the flood was never refused");
    const answer = await postFrom(url, make(i), from);
    if (answer.status === 201) {
      stored += 1;
      refusedInARow = 0;
    } else {
      assert.equal(answer.status, 202, JSON.stringify(answer.json));
      refusedInARow += 1;
    }
  }
  return stored;
}

function prioritySuite(
  name: string,
  open: (id: string, options: StoreOptions) => Promise<ReportStore>,
): void {
  describe(`on ${name}`, () => {
    // 160 KB: room for about 40 groups of the proxy's chain.
    const BUDGET = 160 * 1024;
    /** The share of the budget made-up misconfiguration reports may fill (the README's table). */
    const HALF = 0.5;

    test("made-up misconfiguration reports fill only half the budget; a real interception report is then stored and alerted", async () => {
      const hook = await startWebhook();
      // The per-client share is the whole budget here: the classification's share alone is under test.
      const store = await open("class-share", { maxStoredBytes: BUDGET, maxStoredBytesPerClient: BUDGET });
      const alerts = new AlertSender({ webhook: hook.url });
      const collector = await startCollector({ store, alerts, onError: () => undefined });
      try {
        const junkStored = await flood(collector.url, (i) => misconfiguration(`junk-${i}.example`));
        const usage = await store.usage();
        assert.ok(junkStored > 0, "the junk is stored while it fits its share");
        assert.ok(
          usage.storedBytes <= BUDGET * HALF,
          `misconfiguration within its half: ${JSON.stringify(usage)}`,
        );
        const answer = await postFrom(collector.url, interception("api.priority.keypin.test"));
        assert.equal(answer.status, 201, JSON.stringify(answer.json));
        assert.equal(answer.json.classification, "interception");
        const [group] = await store.groups({ host: "api.priority.keypin.test" });
        assert.equal(group?.classification, "interception");
        await alerts.pending();
        const alerted = hook.received.filter(
          (a) => a.event === "new-group" && a.host === "api.priority.keypin.test",
        );
        assert.deepEqual(
          alerted.map((a) => a.event === "new-group" && a.stored),
          [true],
        );
        // Interception reports fill the rest of the budget, never more.
        const more = await flood(collector.url, (i) => interception(`i${i}.priority.keypin.test`));
        assert.ok(more > 0);
        const full = await store.usage();
        assert.ok(full.storedBytes <= BUDGET, JSON.stringify(full));
        assert.ok(full.storedBytes > BUDGET * HALF, JSON.stringify(full));
      } finally {
        await collector.close();
        await store.close();
        hook.close();
      }
    });

    test("one client's flood takes at most its share per classification; another client's report is stored", async () => {
      const store = await open("client-share", { maxStoredBytes: BUDGET });
      const collector = await startCollector({ store, onError: () => undefined });
      try {
        // The flood is of interception reports (a proxy CA anyone can make), from 127.0.0.1.
        await flood(collector.url, (i) => interception(`f${i}.priority.keypin.test`));
        const usage = await store.usage();
        assert.ok(usage.storedBytes <= BUDGET / 4, `a quarter at most: ${JSON.stringify(usage)}`);
        const refused = await postFrom(collector.url, interception("late.priority.keypin.test"));
        assert.equal(refused.status, 202);
        assert.match(String(refused.json.reason), /this client's share/);
        // Another client (127.0.0.2), and the flooding client's own report of another classification.
        const other = await postFrom(collector.url, interception("other.priority.keypin.test"), "127.0.0.2");
        assert.equal(other.status, 201, JSON.stringify(other.json));
        const own = await postFrom(collector.url, misconfiguration("typo.example"));
        assert.equal(own.status, 201, JSON.stringify(own.json));
        assert.equal((await store.groups({ host: "other.priority.keypin.test" })).length, 1);
      } finally {
        await collector.close();
        await store.close();
      }
    });

    test("with the budget full, a new interception group still alerts (once), a misconfiguration does not, and storage-full is sent once", async () => {
      const hook = await startWebhook();
      const store = await open("alerts", { maxStoredBytes: BUDGET, maxStoredBytesPerClient: BUDGET });
      const alerts = new AlertSender({ webhook: hook.url });
      const errors: string[] = [];
      const collector = await startCollector({
        store,
        alerts,
        onError: (e) => errors.push(String((e as Error).message)),
      });
      try {
        await flood(collector.url, (i) => interception(`x${i}.priority.keypin.test`));
        await alerts.pending();
        const before = hook.received.length;
        // The device is another client (127.0.0.2): the flooder's own share of alerts is spent.
        const host = "bank.priority.keypin.test";
        const report = interception(host);
        for (let i = 0; i < 3; i++) {
          const answer = await postFrom(collector.url, report, "127.0.0.2");
          assert.equal(answer.status, 202, "not stored");
        }
        assert.equal((await postFrom(collector.url, misconfiguration("junk-late.example"))).status, 202);
        await alerts.pending();
        const late = hook.received.slice(before);
        const forBank = late.filter((a) => a.event === "new-group" && a.host === host);
        assert.equal(forBank.length, 1, `one alert for the unstored group: ${JSON.stringify(late)}`);
        assert.deepEqual(
          forBank.map((a) => a.event === "new-group" && [a.stored, a.classification]),
          [[false, "interception"]],
        );
        assert.equal(
          late.filter((a) => a.event === "new-group" && a.host === "junk-late.example").length,
          0,
          "no alert for an unstored misconfiguration",
        );
        const full = hook.received.filter((a) => a.event === "storage-full");
        assert.equal(full.length, 1, JSON.stringify(hook.received.map((a) => a.event)));
        assert.equal(full[0]?.event === "storage-full" && full[0].maxStoredBytes, BUDGET);
        assert.equal(errors.filter((e) => /byte budget/.test(e)).length, 1, errors.join("\n"));
        assert.deepEqual(await store.groups({ host }), []);
      } finally {
        await collector.close();
        await store.close();
        hook.close();
      }
    });
  });
}

{
  const temp = makeTempDir("keypin-priority-");
  after(() => temp.remove());
  prioritySuite("SQLite (sql.js)", (id, options) => openSqliteStore(join(temp.dir, `${id}.db`), options));
}

describe("PostgreSQL", { skip: pgUnavailable() }, () => {
  let cluster: PgCluster | undefined;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(() => cluster?.stop());
  prioritySuite("PostgreSQL", async (id, options) => {
    const base = (cluster as PgCluster).url;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE "priority_${id.replace(/-/g, "_")}"`);
    await admin.end();
    return openPostgresStore(base.replace(/\/postgres$/, `/priority_${id.replace(/-/g, "_")}`), options);
  });
});
