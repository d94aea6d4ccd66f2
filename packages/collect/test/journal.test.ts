// The embedded store's journal (issue 17): batches of concurrent reports are one journal entry, a duplicate
// of a durable group is journaled as its key, host and time, and the counts live in memory until they are
// written into SQLite. A crash at any point after an acknowledgement must lose nothing: here the files are
// copied as they are on disk while the store runs (no close, no snapshot since the first), as a SIGKILL
// would leave them, and the copy is opened: every count, first/last seen and per-minute count is exact.
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type GroupUpsert, openSqliteStore, type ReportStore } from "@keypin/collect";
import { makeTempDir } from "@keypin/testkit";

const PEM = `-----BEGIN CERTIFICATE-----\n${"A".repeat(64)}\n`.repeat(20);

function report(key: string, host: string, seenAt: number): GroupUpsert {
  return {
    key,
    host,
    port: 443,
    notedHost: host,
    servedChain: [PEM, PEM],
    validatedChain: [PEM, PEM, PEM],
    knownPins: ['pin-sha256="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="'],
    result: 1,
    source: "trustkit-android",
    classification: "interception",
    evidence: [`group ${key}`],
    seenAt,
  };
}

/** The store as a crash would leave it: the database file and its journal copied while the store runs. */
async function reopenCrashed(file: string, copy: string): Promise<ReportStore> {
  copyFileSync(file, copy);
  copyFileSync(`${file}-journal`, `${copy}-journal`);
  return openSqliteStore(copy);
}

const noSnapshots = { snapshotEveryMs: 3_600_000, snapshotMinJournalBytes: Number.MAX_SAFE_INTEGER };

test("a crash after acknowledgements loses nothing: counts, times and minutes are replayed exactly", async () => {
  using temp = makeTempDir("keypin-journal-");
  const file = join(temp.dir, "live.db");
  const store = await openSqliteStore(file, noSnapshots);
  const t0 = Date.parse("2026-12-01T10:00:00Z");
  const expected = new Map<string, number>();
  const minutes = new Map<string, number>();
  let sent = 0;
  // 30 rounds of 40 concurrent reports (one batch each) over 3 groups on 2 hosts, across three minutes,
  // times out of order within a round; group c appears only from round 10 (new in a batch with its duplicates).
  for (let round = 0; round < 30; round++) {
    const batch: GroupUpsert[] = [];
    for (let i = 0; i < 40; i++) {
      const key = round >= 10 && i % 4 === 0 ? "c" : i % 2 === 0 ? "a" : "b";
      const host = key === "b" ? "two.keypin.test" : "one.keypin.test";
      const seenAt = t0 + round * 6_000 + ((i * 7919) % 5_000);
      batch.push(report(key, host, seenAt));
      expected.set(key, (expected.get(key) ?? 0) + 1);
      const mk = `${host} ${new Date(Math.floor(seenAt / 60_000) * 60_000).toISOString()}`;
      minutes.set(mk, (minutes.get(mk) ?? 0) + 1);
    }
    const outcomes = await Promise.all(batch.map((r) => store.record([r])));
    sent += batch.length;
    // Exactly one report of c was told its group is new.
    if (round === 10) assert.equal(outcomes.filter(([o]) => o?.created).length, 1);
  }
  // Duplicates are journaled short: 1,200 reports of ~8 KB each would be ~10 MB in full. (The file is
  // allocated ahead and zero past the last line.)
  const journalBytes = readFileSync(`${file}-journal`).indexOf(0);
  assert.ok(journalBytes < sent * 300, `journal ${journalBytes} bytes for ${sent} reports`);
  assert.ok(readFileSync(`${file}-journal`, "utf8").includes('"key":"a","host":"one.keypin.test","seenAt"'));

  const crashed = await reopenCrashed(file, join(temp.dir, "crashed.db"));
  const groups = await crashed.groups();
  assert.deepEqual(Object.fromEntries(groups.map((g) => [g.key, g.count])), Object.fromEntries(expected));
  const live = await store.groups();
  for (const g of groups) {
    const same = live.find((l) => l.key === g.key);
    assert.deepEqual(g, same, `group ${g.key} after the crash is the running store's`);
  }
  const series = await crashed.series();
  assert.deepEqual(
    Object.fromEntries(series.map((p) => [`${p.host} ${p.minute}`, p.count])),
    Object.fromEntries(minutes),
  );
  await crashed.close();
  await store.close();
});

test("after retention deletes a group, its next report is journaled in full and survives a crash", async () => {
  using temp = makeTempDir("keypin-journal-prune-");
  const file = join(temp.dir, "live.db");
  const store = await openSqliteStore(file, noSnapshots);
  const t0 = Date.parse("2026-12-01T10:00:00Z");
  await Promise.all(
    Array.from({ length: 10 }, (_, i) => store.record([report("old", "old.keypin.test", t0 + i)])),
  );
  await store.record([report("kept", "kept.keypin.test", t0 + 86_400_000)]);
  // Prune writes a snapshot and empties the journal; "old" is gone.
  assert.equal(await store.prune(t0 + 3_600_000), 1);
  // "old" again: no longer durable, so its report must carry the whole group.
  await Promise.all(
    Array.from({ length: 5 }, (_, i) =>
      store.record([report("old", "old.keypin.test", t0 + 90_000_000 + i)]),
    ),
  );
  await store.record([report("kept", "kept.keypin.test", t0 + 90_000_000)]);
  const crashed = await reopenCrashed(file, join(temp.dir, "crashed.db"));
  const counts = Object.fromEntries((await crashed.groups()).map((g) => [g.key, g.count]));
  assert.deepEqual(counts, { old: 5, kept: 2 });
  await crashed.close();
  await store.close();
});

test("after a snapshot the journal is reused: older lines left past the new ones are not replayed", async () => {
  using temp = makeTempDir("keypin-journal-reuse-");
  const file = join(temp.dir, "live.db");
  const store = await openSqliteStore(file, noSnapshots);
  const t0 = Date.parse("2026-12-01T10:00:00Z");
  // Many long lines (new groups journal in full), then a snapshot (prune deletes nothing but writes one).
  for (let i = 0; i < 20; i++) await store.record([report(`g${i}`, "reuse.keypin.test", t0 + i)]);
  assert.equal(await store.prune(t0 - 86_400_000), 0);
  // One short line at the start of the journal; the older lines still follow it on disk.
  await store.record([report("g0", "reuse.keypin.test", t0 + 100)]);
  const text = readFileSync(`${file}-journal`, "utf8");
  assert.ok(text.includes('"key":"g19"'), "the older lines are still in the file");
  const crashed = await reopenCrashed(file, join(temp.dir, "crashed.db"));
  const counts = Object.fromEntries((await crashed.groups()).map((g) => [g.key, g.count]));
  await crashed.close();
  assert.equal(counts.g0, 2);
  for (let i = 1; i < 20; i++) assert.equal(counts[`g${i}`], 1, `g${i}`);
  // A line torn over an older one (its end replaced) fails its checksum and is skipped, the others not.
  const lines = text.split("\n");
  const torn = lines[0]?.replace(/"seenAt":\d+/, '"seenAt":1');
  writeFileSync(join(temp.dir, "torn.db-journal"), [torn, ...lines.slice(1)].join("\n"));
  copyFileSync(file, join(temp.dir, "torn.db"));
  const reopened = await openSqliteStore(join(temp.dir, "torn.db"));
  const tornCounts = Object.fromEntries((await reopened.groups()).map((g) => [g.key, g.count]));
  await reopened.close();
  assert.equal(tornCounts.g0, 1, "the changed line was not replayed");
  await store.close();
});
