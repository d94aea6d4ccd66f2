// Per-client rate limits and timeouts for slow or idle connections (issue 17): a client over its reports a
// minute gets 429 with Retry-After (other minutes are fine); a client that never finishes its headers, one
// that stalls in its body, and one that sends nothing are cut off, and the collector keeps serving.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Collector, openSqliteStore, type ReportStore, startCollector } from "@keypin/collect";
import { createChain, makeTempDir, type TestChain, unrelatedPin } from "@keypin/testkit";
import { post, trustKitAndroidReport } from "./helpers.js";

const temp = makeTempDir("keypin-limits-");
let store: ReportStore;
let collector: Collector;
let chain: TestChain;
let now = Date.parse("2026-12-01T10:00:05Z");

before(async () => {
  store = await openSqliteStore(join(temp.dir, "r.db"));
  chain = await createChain("p256", ["limits.keypin.test"], "limits");
  collector = await startCollector({
    store,
    now: () => now,
    perClientPerMinute: 5,
    headersTimeoutMs: 300,
    requestTimeoutMs: 600,
  });
});
after(async () => {
  await collector.close();
  await store.close();
  temp.remove();
});

test("over 5 reports a minute from one client: 429 with Retry-After; the next minute is fine", async () => {
  const body = JSON.stringify(trustKitAndroidReport(chain, "limits.keypin.test", 443, [unrelatedPin()]));
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await post(collector.url, body)).status);
  assert.deepEqual(statuses, [201, 201, 201, 201, 201, 429, 429, 429]);
  const refused = await fetch(collector.url, { method: "POST", body });
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "55");
  assert.match(
    ((await refused.json()) as { error: string }).error,
    /over 5 reports a minute from 127\.0\.0\.1/,
  );
  now += 60_000;
  assert.equal((await post(collector.url, body)).status, 201);
  const [group] = await store.groups({ host: "limits.keypin.test" });
  assert.equal(group?.count, 6, "refused reports are not counted");
});

/** Opens a raw connection, writes `text`, and resolves with what the server sent before it closed the socket. */
async function untilClosed(text: string): Promise<string> {
  const socket: Socket = connect(Number(new URL(collector.url).port), "127.0.0.1");
  await once(socket, "connect");
  let received = "";
  socket.on("data", (d) => (received += d.toString()));
  if (text) socket.write(text);
  const closed = once(socket, "close");
  const cap = setTimeout(
    () => socket.destroy(new Error("the collector left a slow client connected for 10 s")),
    10_000,
  );
  try {
    await closed;
  } finally {
    clearTimeout(cap);
  }
  assert.ok(!socket.errored, String(socket.errored));
  return received;
}

test("a client that never finishes its headers is answered 408 and cut off", async () => {
  const answer = await untilClosed(
    "POST /report HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n",
  );
  assert.match(answer, /^HTTP\/1\.1 408/);
});

test("a client that stalls in its body is cut off", async () => {
  const answer = await untilClosed(
    `POST /report HTTP/1.1\r\nHost: 127.0.0.1:${new URL(collector.url).port}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"hostname":`,
  );
  assert.match(answer, /^(|HTTP\/1\.1 408 [\s\S]*)$/, "cut off (or told 408), never a 201");
});

test("a connection that sends nothing is closed", async () => {
  assert.match(await untilClosed(""), /^(|HTTP\/1\.1 408 [\s\S]*)$/);
});

test("after all of them, the collector still stores a report", async () => {
  now += 60_000;
  const body = JSON.stringify(trustKitAndroidReport(chain, "after.keypin.test", 443, [unrelatedPin()]));
  assert.equal((await post(collector.url, body)).status, 201);
});
