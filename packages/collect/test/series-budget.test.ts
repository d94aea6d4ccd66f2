// The per-minute series is bounded (review): the byte budget counted the groups only, while report_minutes grew
// one row per host and minute, so with a 1 MiB budget the SQLite file reached 97.9 MiB after 300 simulated
// minutes. Now the series keeps the dashboard's window (3 hours before its newest minute) and at most
// SERIES_SHARE of the budget (the oldest minutes deleted first, never the newest); a row that does not fit is
// not stored while its reports still count in their groups. On both stores, through their real SQL.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type GroupUpsert,
  openPostgresStore,
  openSqliteStore,
  type ReportStore,
  SERIES_SHARE,
  SERIES_WINDOW_MS,
  type StoreOptions,
  seriesRowBytes,
} from "@keypin/collect";
import { makeTempDir, type PgCluster, pgUnavailable, startPgCluster } from "@keypin/testkit";
import pg from "pg";

const T0 = Date.UTC(2026, 0, 1);

/** One report per host per minute for `minutes` minutes, each host its own (misconfiguration) group. */
async function fill(store: ReportStore, hosts: number, minutes: number, label: string): Promise<string[]> {
  const names = Array.from({ length: hosts }, (_, i) => `h${i}.${label}.series.keypin.test`);
  const upserts: Omit<GroupUpsert, "seenAt">[] = names.map((host, i) => ({
    key: `${label}-${i}`,
    host,
    port: 443,
    notedHost: host,
    servedChain: [],
    validatedChain: [],
    knownPins: [],
    result: null,
    source: "rfc7469",
    classification: "misconfiguration",
    evidence: ["known-pins is empty: nothing could have failed to match"],
    client: `198.51.100.${i % 200}`,
  }));
  for (let m = 0; m < minutes; m++) {
    const outcomes = await store.record(upserts.map((u) => ({ ...u, seenAt: T0 + m * 60_000 + 1000 })));
    assert.ok(
      outcomes.every((o) => o.stored && o.minuteCount === 1),
      `minute ${m}`,
    );
  }
  return names;
}

function seriesSuite(name: string, open: (id: string, options?: StoreOptions) => Promise<ReportStore>): void {
  describe(`on ${name}`, () => {
    test("300 minutes of 100 hosts: the series keeps within its share of a 256 KiB budget, newest minute whole; the groups count every report", async () => {
      const budget = 256 * 1024;
      const store = await open("cap", { maxStoredBytes: budget, maxStoredBytesPerClient: budget });
      try {
        const names = await fill(store, 100, 300, "cap");
        const usage = await store.usage();
        assert.equal(usage.maxSeriesBytes, Math.floor(budget * SERIES_SHARE));
        assert.ok(usage.seriesBytes <= usage.maxSeriesBytes, JSON.stringify(usage));
        const series = await store.series({});
        const weight = series.reduce((n, p) => n + seriesRowBytes(p.host), 0);
        assert.equal(weight, usage.seriesBytes, "the tally is what the table holds");
        assert.ok(weight <= usage.maxSeriesBytes, `${series.length} rows, ${weight} bytes`);
        const last = new Date(T0 + 299 * 60_000).toISOString();
        assert.equal(series.filter((p) => p.minute === last).length, 100, "the newest minute, every host");
        const minutes = [...new Set(series.map((p) => p.minute))];
        assert.ok(minutes.length > 1 && minutes.length < 300, `${minutes.length} minutes kept`);
        // The minutes kept are the newest ones, with no gap.
        assert.equal(minutes.at(-1), last);
        assert.equal(
          Date.parse(minutes.at(-1) as string) - Date.parse(minutes[0] as string),
          (minutes.length - 1) * 60_000,
        );
        const groups = await store.groups({});
        assert.equal(groups.length, 100);
        assert.ok(
          groups.every((g) => g.count === 300),
          "every report counted in its group",
        );
        assert.ok(names.every((h) => groups.some((g) => g.host === h)));
      } finally {
        await store.close();
      }
    });

    test("with room to spare, the series keeps 3 hours before its newest minute and no more", async () => {
      const store = await open("window");
      try {
        await fill(store, 5, 300, "window");
        const series = await store.series({});
        const newest = T0 + 299 * 60_000;
        const oldest = Math.min(...series.map((p) => Date.parse(p.minute)));
        assert.equal(
          oldest,
          newest - SERIES_WINDOW_MS,
          "the dashboard's 3 hours (and the minute they start in)",
        );
        assert.equal(series.length, 5 * (SERIES_WINDOW_MS / 60_000 + 1));
      } finally {
        await store.close();
      }
    });
  });
}

{
  const temp = makeTempDir("keypin-series-");
  after(() => temp.remove());
  seriesSuite("SQLite (sql.js)", (id, options) => openSqliteStore(join(temp.dir, `${id}.db`), options));

  test("the review's case on SQLite: 1,000 hosts of long names for 300 minutes with a 1 MiB budget leave a file of a few MiB", async () => {
    const file = join(temp.dir, "review.db");
    const budget = 1024 * 1024;
    const store = await openSqliteStore(file, { maxStoredBytes: budget });
    const long = "x".repeat(200);
    const upserts = Array.from({ length: 1000 }, (_, i) => {
      const host = `h${i}.${long}.test`;
      return {
        key: `review-${i}`,
        host,
        port: 443,
        notedHost: host,
        servedChain: [],
        validatedChain: [],
        knownPins: [],
        result: null,
        source: "rfc7469",
        classification: "misconfiguration" as const,
        evidence: ["known-pins is empty: nothing could have failed to match"],
        client: `198.51.100.${i % 200}`,
      };
    });
    for (let m = 0; m < 300; m++) await store.record(upserts.map((u) => ({ ...u, seenAt: T0 + m * 60_000 })));
    const usage = await store.usage();
    await store.close();
    const size = statSync(file).size;
    assert.ok(usage.seriesBytes <= usage.maxSeriesBytes, JSON.stringify(usage));
    // Before: 97.9 MiB. The groups' half of the budget, the series' eighth, SQLite's pages and indexes.
    assert.ok(size < 4 * budget, `${(size / 2 ** 20).toFixed(1)} MiB`);
  });
}

describe("PostgreSQL", { skip: pgUnavailable() }, () => {
  let cluster: PgCluster | undefined;
  const created = new Set<string>();
  before(async () => {
    cluster = await startPgCluster();
  });
  after(() => cluster?.stop());
  seriesSuite("PostgreSQL", async (id, options) => {
    const base = (cluster as PgCluster).url;
    if (!created.has(id)) {
      const admin = new pg.Client({ connectionString: base });
      await admin.connect();
      await admin.query(`CREATE DATABASE "series_${id}"`);
      await admin.end();
      created.add(id);
    }
    return openPostgresStore(base.replace(/\/postgres$/, `/series_${id}`), options);
  });
});
