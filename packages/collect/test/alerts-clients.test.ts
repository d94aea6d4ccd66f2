// One client must not use up everyone's alerts (review 2): anyone can make a free "interception" report (their
// own CA, made-up hosts under their domain), and new-group alerts were limited per minute and classification
// with one count for all clients, so 70 such reports from one address used up the minute's 60 and a device's
// real interception report for its bank was merged into more-alerts, not even among the 10 hosts it named.
// Now each client (clientOf: an address, an IPv6 one's /64) has its own few new-group alerts per minute and
// classification, and the summary names hosts of as many clients as it can. Real HTTP, two local addresses.
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { before, test } from "node:test";
import { type Alert, AlertSender, openSqliteStore, startCollector } from "@keypin/collect";
import { createChain, makeTempDir, type TestChain, unrelatedPin } from "@keypin/testkit";
import { type Answer, trustKitAndroidReport } from "./helpers.js";

/** POSTs a report from the local address `from` (127.0.0.2 is another client than 127.0.0.1). */
function postFrom(url: string, body: unknown, from: string): Promise<Answer> {
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

async function startWebhook(): Promise<{ url: string; received: Alert[]; close(): Promise<void> }> {
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
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const FLOODER = "127.0.0.1";
const DEVICE = "127.0.0.2";
const BANK = "api.bank.keypin.test";
let attacker: TestChain;
let proxy: TestChain;
before(async () => {
  // The flooder's own CA, for made-up hosts of its own domain: each report is a new interception group.
  attacker = await createChain("p256", ["*.attacker.keypin.test"], "flooder's own CA");
  // The proxy that intercepts the device's connection to its bank.
  proxy = await createChain("p256", [BANK], "intercepting proxy");
});

/** 70 made-up interception reports from FLOODER, then the device's real one from DEVICE, in one minute. */
async function floodThenReal(alerts: AlertSender): Promise<void> {
  using temp = makeTempDir("keypin-alerts-clients-");
  const store = await openSqliteStore(join(temp.dir, "r.db"));
  const collector = await startCollector({ store, alerts, now: () => Date.parse("2026-12-01T10:00:10Z") });
  try {
    for (let i = 0; i < 70; i++) {
      const host = `n${i}.attacker.keypin.test`;
      const answer = await postFrom(
        collector.url,
        trustKitAndroidReport(attacker, host, 443, [unrelatedPin()]),
        FLOODER,
      );
      assert.equal(answer.status, 201, JSON.stringify(answer.json));
      assert.equal(answer.json.classification, "interception");
    }
    const real = await postFrom(
      collector.url,
      trustKitAndroidReport(proxy, BANK, 443, [unrelatedPin()]),
      DEVICE,
    );
    assert.equal(real.status, 201, JSON.stringify(real.json));
    assert.equal(real.json.classification, "interception");
    await alerts.pending();
  } finally {
    await collector.close();
    await store.close();
  }
}

type NewGroup = Extract<Alert, { event: "new-group" }>;
type Summary = Extract<Alert, { event: "more-alerts" }>;

test("one client's 70 made-up interception reports use up its own few alerts, and a device's real interception is alerted on its own", async () => {
  const hook = await startWebhook();
  try {
    await floodThenReal(new AlertSender({ webhook: hook.url }));
    const groups = hook.received.filter((a): a is NewGroup => a.event === "new-group");
    const bank = groups.filter((a) => a.host === BANK);
    assert.deepEqual(
      bank.map((a) => [a.classification, a.stored]),
      [["interception", true]],
      "the device's report has its own alert",
    );
    // The flooder's share: 5 alerts of interception a minute; the other 65 are counted in one summary.
    assert.equal(groups.filter((a) => a.host.endsWith(".attacker.keypin.test")).length, 5);
    const summaries = hook.received.filter((a): a is Summary => a.event === "more-alerts");
    assert.equal(summaries.length, 1);
    assert.deepEqual((summaries[0] as Summary).byClassification, { interception: 65 });
  } finally {
    await hook.close();
  }
});

test("past the minute's alerts for everyone, the summary still names the other client's host: one client cannot fill its 10 places", async () => {
  const hook = await startWebhook();
  try {
    // The global bound (5 a minute) is used up by the flooder's share alone: the device's report is merged.
    await floodThenReal(new AlertSender({ webhook: hook.url, newGroupsPerMinute: 5 }));
    const groups = hook.received.filter((a): a is NewGroup => a.event === "new-group");
    assert.equal(groups.length, 5);
    assert.ok(!groups.some((a) => a.host === BANK));
    const summary = hook.received.find((a): a is Summary => a.event === "more-alerts") as Summary;
    assert.equal(summary.newGroups, 66);
    assert.equal(summary.hosts.length, 10);
    assert.ok(summary.hosts.includes(BANK), `the summary names ${BANK}: ${summary.hosts.join(", ")}`);
    // The flooder keeps the other nine places (its first hosts left out).
    assert.deepEqual(
      summary.hosts.filter((h) => h !== BANK),
      Array.from({ length: 9 }, (_, i) => `n${i + 5}.attacker.keypin.test`),
    );
  } finally {
    await hook.close();
  }
});
