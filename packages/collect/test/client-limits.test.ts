// The per-client allowances by minute (review): the ingest limit was keyed by the raw address while the storage
// share counts an IPv6 client by its /64, so one host could send 6,000 reports a minute from each of its 2^64
// addresses; and when the map of clients filled, it was emptied, which gave every limited client its allowance
// back. Now the collector keys it by clientOf and forgets only the client given an allowance longest ago.
import assert from "node:assert/strict";
import { test } from "node:test";
import { clientOf } from "@keypin/collect";
import { ClientMinutes } from "../src/client-limits.js";

test("a full map forgets the client seen longest ago, not the limited one seen this minute", () => {
  const clients = new ClientMinutes({ maxClients: 3, signatureCostPerMinute: 10 });
  clients.of("old", 1).reports = 5;
  const limited = clients.of("limited", 2);
  limited.reports = 6000;
  limited.left = 0;
  // New clients of minute 2 fill the map: "old" (minute 1) goes first, then the oldest of this minute.
  clients.of("a", 2);
  assert.equal(clients.size, 3);
  clients.of("b", 2);
  assert.equal(clients.size, 3);
  assert.equal(clients.of("limited", 2), limited, "still the same allowance, still spent");
  assert.equal(limited.reports, 6000);
  assert.equal(clients.of("old", 2).reports, 0, "forgotten: a fresh allowance");
});

test("a client's allowance is fresh each minute and moves to the end of the eviction order", () => {
  const clients = new ClientMinutes({ maxClients: 2, signatureCostPerMinute: 10 });
  const first = clients.of("x", 1);
  first.reports = 3;
  first.left = 1;
  clients.of("y", 1);
  const next = clients.of("x", 2);
  assert.deepEqual([next.reports, next.left], [0, 10]);
  // "y" (minute 1) is now the oldest: a third client evicts it, not "x".
  clients.of("z", 2);
  next.reports = 7;
  assert.equal(clients.of("x", 2).reports, 7);
});

test("the addresses of one IPv6 /64 are one client, as the storage share counts them", () => {
  const clients = new ClientMinutes({ maxClients: 10, signatureCostPerMinute: 10 });
  const a = clients.of(clientOf("2001:db8:1:2::1"), 1);
  a.reports += 1;
  const b = clients.of(clientOf("2001:db8:1:2:ffff:ffff:ffff:ffff"), 1);
  assert.equal(b, a);
  assert.notEqual(clients.of(clientOf("2001:db8:1:3::1"), 1), a);
  assert.equal(clients.of(clientOf("::ffff:192.0.2.7"), 1), clients.of("192.0.2.7", 1));
});
