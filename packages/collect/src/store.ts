import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { createRequire } from "node:module";
import type { Classification } from "./ingest.js";

/** One stored group of identical reports (TrustKit's tuple). */
export interface GroupRecord {
  key: string;
  host: string;
  port: number;
  notedHost: string;
  servedChain: string[];
  validatedChain: string[];
  knownPins: string[];
  result: number | null;
  source: string;
  classification: Classification;
  evidence: string[];
  count: number;
  /** ISO 8601, by the collector's clock. */
  firstSeen: string;
  lastSeen: string;
}

/** What one accepted report adds: a new group with count 1, or count + 1 on the existing one. */
export type GroupUpsert = Omit<GroupRecord, "count" | "firstSeen" | "lastSeen"> & {
  seenAt: number;
  /**
   * Who sent it (the collector passes the client's address, an IPv6 one as its /64), for the per-client share
   * of the byte budget (maxStoredBytesPerClient); never stored. Without it the report has no client share.
   */
  client?: string | undefined;
};

export interface SeriesPoint {
  host: string;
  /** Start of the minute, ISO 8601. */
  minute: string;
  count: number;
}

/** What storing one report did: whether its group is new, and its host's count in its minute after it. */
export interface RecordOutcome {
  created: boolean;
  minuteCount: number;
  /**
   * False when the report's group is new and does not fit the byte budget (see `refused`): the report is
   * counted (ReportStore.usage's notStored) but neither its group nor its minute is stored.
   */
  stored: boolean;
  /**
   * Why a report was not stored: `budget` (the stored groups would pass the share of maxStoredBytes open to
   * its classification, see CLASSIFICATION_SHARES) or `client` (its client's share, maxStoredBytesPerClient).
   */
  refused?: Refusal | undefined;
}

/** Why a report of a new group was not stored. */
export type Refusal = "budget" | "client";

/** How much of its byte budget a store holds, and the reports of new groups it refused since it opened. */
export interface StoreUsage {
  storedBytes: number;
  maxStoredBytes: number;
  notStored: number;
  /** The per-minute counts' bytes (seriesRowBytes each), and their cap: SERIES_SHARE of maxStoredBytes. */
  seriesBytes: number;
  maxSeriesBytes: number;
}

/** Options of the stores. */
export interface StoreOptions {
  /**
   * The stored groups' budget in bytes (their chains, pins, evidence and names, plus 256 each), default
   * DEFAULT_MAX_STORED_BYTES. A report of a new group that would pass it is counted, not stored; reports of
   * stored groups keep counting. The embedded store holds its whole database in memory, so this bounds it.
   */
  maxStoredBytes?: number | undefined;
  /**
   * The bytes of new groups of one classification that one client (GroupUpsert.client: an address, an IPv6
   * /64) may add since the store opened or last pruned; default a quarter of maxStoredBytes. One client's
   * flood of distinct reports then leaves the rest of the budget to everyone else, and its own made-up
   * misconfiguration reports leave room for a real interception report. Counted per process: each
   * collector of a fleet counts its own clients.
   */
  maxStoredBytesPerClient?: number | undefined;
}

/**
 * The share of maxStoredBytes that a new group of each classification may fill: a misconfiguration report
 * (which anyone can make up: no pins, a chain for another host) only the first half, a server change three
 * quarters, an interception the whole. Junk that fills the budget leaves room for the reports that matter.
 */
export const CLASSIFICATION_SHARES: Readonly<Record<Classification, number>> = Object.freeze({
  misconfiguration: 0.5,
  "server-change": 0.75,
  interception: 1,
});
const MIN_SHARE = Math.min(...Object.values(CLASSIFICATION_SHARES));

/**
 * 32 MiB: some 6,000 groups of a typical 5 KB chain. The embedded store holds it in memory and writes it
 * whole at each snapshot (on the event loop: measured ~1.9 s at 64 MiB of 60 KB groups), so the budget
 * bounds both its memory and that pause.
 */
export const DEFAULT_MAX_STORED_BYTES = 32 * 1024 * 1024;

/** A new group's weight against the budget: what its row stores (as SQL's length() counts it) + 256. */
export function groupBytes(g: GroupUpsert): number {
  return (
    256 +
    JSON.stringify(g.servedChain).length +
    JSON.stringify(g.validatedChain).length +
    JSON.stringify(g.knownPins).length +
    JSON.stringify(g.evidence).length +
    g.host.length +
    g.notedHost.length
  );
}

/**
 * The per-minute counts (GET /api/series) are kept for the dashboard's window, 3 hours before the newest
 * minute a store holds; older ones are deleted.
 */
export const SERIES_WINDOW_MS = 3 * 3_600_000;
/**
 * The per-minute counts may take this share of maxStoredBytes on top of the groups (an eighth: 4 MiB of the
 * default 32, some 45,000 rows, 3 hours of 250 hosts). They grew outside the budget, one row per host and
 * minute: with a 1 MiB budget the file reached 98 MiB in 300 minutes (review). When a new row would pass it,
 * the oldest minutes are deleted (down to three quarters of it; never the newest minute), and a new row that
 * still does not fit is not stored: its reports are counted in their groups, not in the series.
 */
export const SERIES_SHARE = 1 / 8;
/** What one per-minute row weighs against the series' cap: its host (as SQL's length() counts it) + 64. */
export const seriesRowBytes = (host: string): number => 64 + host.length;
const SUM_SERIES_BYTES = "SELECT COALESCE(SUM(64 + length(host)), 0) AS bytes FROM report_minutes";
/** Trimming stops once the series is within this share of its cap, so that it is not trimmed every batch. */
const SERIES_TRIM_TO = 3 / 4;

const SUM_GROUP_BYTES = `SELECT COALESCE(SUM(256 + length(served_chain) + length(validated_chain) + length(known_pins)
  + length(evidence) + length(host) + length(noted_host)), 0) AS bytes FROM report_groups`;

const NOT_STORED: RecordOutcome = Object.freeze({ created: false, minuteCount: 0, stored: false });
const REFUSED: Readonly<Record<Refusal, RecordOutcome>> = Object.freeze({
  budget: Object.freeze({ ...NOT_STORED, refused: "budget" }),
  client: Object.freeze({ ...NOT_STORED, refused: "client" }),
});

/** One page of groups: `limit` (default all) from `offset`, newest first. */
export interface GroupFilter {
  host?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

/** What admission weighs a batch against: the store's bytes and budget, and each client's share so far. */
interface Budget {
  storedBytes: number;
  maxStoredBytes: number;
  maxStoredBytesPerClient: number;
  clientBytes: ReadonlyMap<string, number>;
}

/**
 * The reports of a batch that fit a store's byte budget, in order, with their places in the batch: a group the
 * store holds always fits; a new group fits while the stored bytes with it (counted once per batch) stay within
 * its classification's share of the budget (CLASSIFICATION_SHARES) and its client's bytes within
 * maxStoredBytesPerClient. Both stores admit this way; `refusals` says, by place, why a report was left out,
 * `bytes` what the admitted new groups weigh and `byClient` how much of that each client added.
 */
function admitWithinBudget(
  all: readonly GroupUpsert[],
  isStored: (key: string) => boolean,
  sizeOf: (group: GroupUpsert) => number,
  budget: Budget,
): {
  kept: GroupUpsert[];
  placeOf: number[];
  bytes: number;
  byClient: Map<string, number>;
  refusals: (Refusal | undefined)[];
  refused: number;
} {
  const kept: GroupUpsert[] = [];
  const placeOf: number[] = [];
  const refusals: (Refusal | undefined)[] = [];
  const admitted = new Set<string>();
  const byClient = new Map<string, number>();
  let bytes = 0;
  let refused = 0;
  all.forEach((g, i) => {
    if (!isStored(g.key) && !admitted.has(g.key)) {
      const size = sizeOf(g);
      const share = CLASSIFICATION_SHARES[g.classification] ?? MIN_SHARE;
      const client = shareOf(g);
      let refusal: Refusal | undefined;
      if (budget.storedBytes + bytes + size > Math.floor(budget.maxStoredBytes * share)) refusal = "budget";
      else if (
        client !== undefined &&
        (budget.clientBytes.get(client) ?? 0) + (byClient.get(client) ?? 0) + size >
          budget.maxStoredBytesPerClient
      ) {
        refusal = "client";
      }
      if (refusal) {
        refusals[i] = refusal;
        refused += 1;
        return;
      }
      bytes += size;
      if (client !== undefined) byClient.set(client, (byClient.get(client) ?? 0) + size);
      admitted.add(g.key);
    }
    kept.push(g);
    placeOf.push(i);
  });
  return { kept, placeOf, bytes, byClient, refusals, refused };
}

/**
 * What a client's share is counted under: its address and the group's classification, so that a client's
 * made-up misconfiguration reports do not use up the room of its own device's interception report.
 */
const shareOf = (g: GroupUpsert): string | undefined =>
  g.client === undefined ? undefined : `${g.classification} ${g.client}`;

/** Adds a batch's admitted bytes per client share to the store's tally. */
function addClientBytes(tally: Map<string, number>, added: ReadonlyMap<string, number>): void {
  for (const [client, bytes] of added) tally.set(client, (tally.get(client) ?? 0) + bytes);
}

/** The collector's storage. `record` resolves only once the reports are durably stored. */
export interface ReportStore {
  record(reports: readonly GroupUpsert[]): Promise<RecordOutcome[]>;
  /** Newest first (last seen, then key), one page when `limit` is given. */
  groups(filter?: GroupFilter): Promise<GroupRecord[]>;
  usage(): Promise<StoreUsage>;
  /** By minute; with `limit`, the newest `limit` points. */
  series(filter?: {
    host?: string | undefined;
    sinceMs?: number | undefined;
    limit?: number | undefined;
  }): Promise<SeriesPoint[]>;
  /** Deletes groups last seen before `beforeMs` and per-minute counts older than it; resolves with the groups deleted. */
  prune(beforeMs: number): Promise<number>;
  close(): Promise<void>;
}

/** Versioned migrations, run at start; each runs once, in order. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE report_groups (
     key TEXT PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL, noted_host TEXT NOT NULL,
     served_chain TEXT NOT NULL, validated_chain TEXT NOT NULL, known_pins TEXT NOT NULL, result INTEGER,
     source TEXT NOT NULL, classification TEXT NOT NULL, evidence TEXT NOT NULL,
     count BIGINT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL);
   CREATE INDEX report_groups_host ON report_groups (host);
   CREATE TABLE report_minutes (host TEXT NOT NULL, minute BIGINT NOT NULL, count BIGINT NOT NULL,
     PRIMARY KEY (host, minute));`,
  // The series' window and cap delete by minute.
  "CREATE INDEX report_minutes_minute ON report_minutes (minute)",
];

/**
 * A group's row with `count` reports of a batch at once (p13 first seen, p14 last seen, p12 the count); on a
 * key already stored, only the count and the times change.
 */
const UPSERT_GROUP = (p: (i: number) => string) => `INSERT INTO report_groups
  (key, host, port, noted_host, served_chain, validated_chain, known_pins, result, source, classification, evidence, count, first_seen, last_seen)
  VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14].map(p).join(", ")})
  ON CONFLICT (key) DO UPDATE SET count = report_groups.count + excluded.count,
    first_seen = CASE WHEN excluded.first_seen < report_groups.first_seen THEN excluded.first_seen ELSE report_groups.first_seen END,
    last_seen = CASE WHEN excluded.last_seen > report_groups.last_seen THEN excluded.last_seen ELSE report_groups.last_seen END`;
/** A stored group's count + p2, its times widened to p3..p4; binds four small values, not the chains. */
const BUMP_GROUP = (p: (i: number) => string) => `UPDATE report_groups SET count = count + ${p(2)},
    first_seen = CASE WHEN ${p(3)} < first_seen THEN ${p(3)} ELSE first_seen END,
    last_seen = CASE WHEN ${p(4)} > last_seen THEN ${p(4)} ELSE last_seen END
  WHERE key = ${p(1)}`;
/** A host's minute + p3 reports, returning the count after them. */
const UPSERT_MINUTE = (p: (i: number) => string) => `INSERT INTO report_minutes (host, minute, count)
  VALUES (${p(1)}, ${p(2)}, ${p(3)})
  ON CONFLICT (host, minute) DO UPDATE SET count = report_minutes.count + excluded.count RETURNING count`;

function params(g: GroupUpsert, count: number, first: number, last: number): unknown[] {
  return [
    g.key,
    g.host,
    g.port,
    g.notedHost,
    JSON.stringify(g.servedChain),
    JSON.stringify(g.validatedChain),
    JSON.stringify(g.knownPins),
    g.result,
    g.source,
    g.classification,
    JSON.stringify(g.evidence),
    count,
    first,
    last,
  ];
}

const minuteOf = (ms: number): number => Math.floor(ms / 60_000) * 60_000;

/** A journal line's checksum: 22 base64 characters (128 bits) of the SHA-256 of its JSON. */
const lineChecksum = (json: string): string =>
  createHash("sha256").update(json).digest("base64").slice(0, 22);

/** What a batch needs of a report whose group is already stored: the journal's short form of a duplicate. */
interface Duplicate {
  key: string;
  host: string;
  seenAt: number;
}

/** One group's reports in a batch. */
interface BatchGroup {
  key: string;
  /** The batch's first full report of the group (a replayed duplicate has none). */
  full: GroupUpsert | undefined;
  count: number;
  first: number;
  last: number;
  /** Index of the group's first report in the batch: the one told `created` when the store made the row. */
  firstIndex: number;
  created: boolean;
}

/** One host's minute in a batch. */
interface BatchMinute {
  host: string;
  minute: number;
  count: number;
  /** The minute's count before this batch (set by the store). */
  before: number;
}

/**
 * A batch of reports folded into one change per group and per host-minute, sorted by key (so that concurrent
 * PostgreSQL transactions lock rows in one order and cannot deadlock). Each report's outcome is the one it
 * would have had alone, in batch order: `created` for the first report of a new group, and its minute's
 * count just after it (the count before the batch + its place among the batch's reports of that minute).
 */
class Batch {
  readonly groups: BatchGroup[];
  readonly minutes: BatchMinute[];
  private readonly minuteOf: BatchMinute[] = [];
  private readonly place: number[] = [];
  private readonly groupOf: BatchGroup[] = [];
  constructor(reports: readonly (GroupUpsert | Duplicate)[]) {
    const groups = new Map<string, BatchGroup>();
    const minutes = new Map<string, BatchMinute>();
    reports.forEach((r, i) => {
      let g = groups.get(r.key);
      if (!g) {
        g = {
          key: r.key,
          full: undefined,
          count: 0,
          first: r.seenAt,
          last: r.seenAt,
          firstIndex: i,
          created: false,
        };
        groups.set(r.key, g);
      }
      g.count += 1;
      if (r.seenAt < g.first) g.first = r.seenAt;
      if (r.seenAt > g.last) g.last = r.seenAt;
      if (!g.full && "servedChain" in r) g.full = r;
      const minute = minuteOf(r.seenAt);
      const mk = `${r.host}\n${minute}`;
      let m = minutes.get(mk);
      if (!m) {
        m = { host: r.host, minute, count: 0, before: 0 };
        minutes.set(mk, m);
      }
      m.count += 1;
      this.minuteOf.push(m);
      this.place.push(m.count);
      this.groupOf.push(g);
    });
    const byKey =
      <T>(key: (t: T) => string) =>
      (a: T, b: T) =>
        key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
    this.groups = [...groups.values()].sort(byKey((g) => g.key));
    this.minutes = [...minutes.values()].sort(
      byKey((m) => `${m.host}\n${String(m.minute).padStart(16, "0")}`),
    );
  }
  outcomes(): RecordOutcome[] {
    return this.groupOf.map((g, i) => ({
      created: g.created && g.firstIndex === i,
      minuteCount: (this.minuteOf[i] as BatchMinute).before + (this.place[i] as number),
      stored: true,
    }));
  }
}

/** A page's LIMIT: a whole number from 0 (`none` when not given), never SQL text of a caller's. */
const pageLimit = (limit: number | undefined, none: number | string): number | string =>
  limit === undefined ? none : Math.max(0, Math.floor(Number(limit) || 0));
const pageOffset = (offset: number | undefined): number => Math.max(0, Math.floor(Number(offset) || 0));

const SELECT_GROUPS = `SELECT key, host, port, noted_host, served_chain, validated_chain, known_pins, result, source,
  classification, evidence, count, first_seen, last_seen FROM report_groups`;

function rowToGroup(row: Record<string, unknown>): GroupRecord {
  return {
    key: String(row.key),
    host: String(row.host),
    port: Number(row.port),
    notedHost: String(row.noted_host),
    servedChain: JSON.parse(String(row.served_chain)),
    validatedChain: JSON.parse(String(row.validated_chain)),
    knownPins: JSON.parse(String(row.known_pins)),
    result: row.result === null || row.result === undefined ? null : Number(row.result),
    source: String(row.source),
    classification: String(row.classification) as Classification,
    evidence: JSON.parse(String(row.evidence)),
    count: Number(row.count),
    firstSeen: new Date(Number(row.first_seen)).toISOString(),
    lastSeen: new Date(Number(row.last_seen)).toISOString(),
  };
}

/**
 * Takes `FILE.lock` (holding this process's id) so that a second collector on the same file fails at start
 * instead of both overwriting it; a lock left by a process that no longer runs (killed) is taken over.
 */
function lockFile(file: string): () => void {
  const lock = `${file}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number(readFileSync(lock, "utf8"));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === "EPERM";
      }
      if (alive) {
        throw new Error(
          `${file} is in use by process ${pid} (${lock}); one collector owns a SQLite file: use PostgreSQL for several`,
        );
      }
      rmSync(lock, { force: true });
    }
  }
  throw new Error(`could not take ${lock}`);
}

/**
 * The embedded store: SQLite (sql.js, compiled to WASM, shipped in the npm package) in one file, with a
 * journal next to it (`FILE-journal`). A batch of reports (those that arrive together) is one journal line,
 * fdatasynced before any of them resolves: an acknowledged report survives a kill. Counts go into SQLite
 * once a second; when the journal reaches a quarter of the database's size, the database is written to a
 * temporary file, fsynced and renamed over FILE with the journal's sequence number in it, and the journal
 * is reused from its start; at open the journal entries after that number are replayed. One process owns
 * the file; a fleet uses PostgreSQL.
 */
export async function openSqliteStore(
  file: string,
  options: {
    /** How often to consider writing the database file (default 1,000 ms). */
    snapshotEveryMs?: number;
    /** Journal bytes that make a snapshot due (default a quarter of the last snapshot's size). */
    snapshotMinJournalBytes?: number;
  } & StoreOptions = {},
): Promise<ReportStore> {
  const maxStoredBytes = options.maxStoredBytes ?? DEFAULT_MAX_STORED_BYTES;
  const maxStoredBytesPerClient = options.maxStoredBytesPerClient ?? Math.floor(maxStoredBytes / 4);
  /** The bytes of new groups each client added per classification since the store opened or pruned. */
  const clientBytes = new Map<string, number>();
  let notStored = 0;
  const unlock = lockFile(file);
  const require = createRequire(import.meta.url);
  const initSqlJs = require("sql.js") as typeof import("sql.js").default;
  const SQL = await initSqlJs();
  const db = existsSync(file) ? new SQL.Database(readFileSync(file)) : new SQL.Database();
  // The database lives in WASM memory; its durability is FILE-journal and the snapshots. SQLite's own
  // rollback journal (a file in sql.js's in-memory file system, written and deleted per transaction) only
  // needs to undo a failed transaction, which it can from memory.
  db.run("PRAGMA journal_mode = MEMORY");
  db.run("PRAGMA synchronous = OFF");
  db.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  db.run("CREATE TABLE IF NOT EXISTS journal_position (seq BIGINT NOT NULL)");
  const current = Number(
    db.exec("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0]?.values[0]?.[0] ?? 0,
  );
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.run("BEGIN");
    db.run(MIGRATIONS[v] as string);
    db.run("INSERT INTO schema_version (version) VALUES (?)", [v + 1]);
    db.run("COMMIT");
  }
  const statement = (sql: string) => db.prepare(sql);
  const upsertGroup = statement(UPSERT_GROUP((i) => `?${i}`));
  const bumpGroup = statement(BUMP_GROUP((i) => `?${i}`));
  const upsertMinute = statement(UPSERT_MINUTE((i) => `?${i}`));
  const readMinute = statement("SELECT count FROM report_minutes WHERE host = ? AND minute = ?");
  let dirty = true;
  /** Keys of every group, stored or still in `groupChanges`: one process owns the file, so this is exact. */
  const known = new Set<string>();
  /**
   * Keys whose full row is durable (in the file or in a synced journal entry): a report of one of them goes
   * to the journal as a Duplicate (key, host, time: ~120 bytes, not ~5 KB of chains).
   */
  const durable = new Set<string>();
  const loadKeys = (): void => {
    known.clear();
    for (const row of db.exec("SELECT key FROM report_groups")[0]?.values ?? []) known.add(String(row[0]));
    durable.clear();
    for (const key of known) durable.add(key);
  };
  /**
   * What the journal holds and SQLite does not yet: per group, the reports to add; per host and minute, the
   * count (total: stored + pending). Reports change these maps only; writeChanges puts them into SQLite in one
   * transaction, once a second and before anything reads or exports the database. Running SQL per report (an
   * UPDATE and a minute upsert, ~20 µs each through WASM) was most of the store's cost; per second it is one
   * statement per group and minute that changed, however many reports they got.
   */
  const groupChanges = new Map<
    string,
    { full: GroupUpsert | undefined; count: number; first: number; last: number }
  >();
  /** `dropped`: a new row the series' cap (or window) left out: counted here for minuteCount, never written. */
  const minutes = new Map<
    string,
    { host: string; minute: number; total: number; pending: number; dropped: boolean }
  >();
  let newestMinute = 0;
  /**
   * The series' rows by weight (seriesRowBytes), per minute and in all, stored or admitted and pending; minutes
   * before `seriesFloor` were deleted (the window, or trimmed) and take no new row.
   */
  const maxSeriesBytes = Math.floor(maxStoredBytes * SERIES_SHARE);
  const seriesByMinute = new Map<number, number>();
  let seriesBytes = 0;
  let seriesNewest = 0;
  let seriesFloor = 0;
  const loadSeries = (): void => {
    seriesByMinute.clear();
    seriesBytes = 0;
    const rows =
      db.exec("SELECT minute, SUM(64 + length(host)) FROM report_minutes GROUP BY minute")[0]?.values ?? [];
    for (const [minute, bytes] of rows) {
      seriesByMinute.set(Number(minute), Number(bytes));
      seriesBytes += Number(bytes);
      seriesNewest = Math.max(seriesNewest, Number(minute));
    }
  };
  /** Deletes the series' minutes before `cutoff`, stored and pending. */
  const dropMinutesBefore = (cutoff: number): void => {
    if (cutoff <= seriesFloor) return;
    seriesFloor = cutoff;
    db.run("DELETE FROM report_minutes WHERE minute < ?", [cutoff]);
    for (const [minute, bytes] of seriesByMinute) {
      if (minute >= cutoff) continue;
      seriesByMinute.delete(minute);
      seriesBytes -= bytes;
    }
    for (const [mk, m] of minutes) if (m.minute < cutoff) minutes.delete(mk);
    dirty = true;
  };
  /** The oldest minutes deleted until the series is within SERIES_TRIM_TO of its cap; never the newest. */
  const trimSeries = (): void => {
    const target = Math.floor(maxSeriesBytes * SERIES_TRIM_TO);
    let left = seriesBytes;
    let cutoff = 0;
    for (const minute of [...seriesByMinute.keys()].sort((a, b) => a - b)) {
      if (left <= target || minute >= seriesNewest) break;
      left -= seriesByMinute.get(minute) as number;
      cutoff = minute + 60_000;
    }
    dropMinutesBefore(cutoff);
  };
  /** Whether a new row for (host, minute) is stored: within the window and the cap, after trimming. */
  const admitRow = (host: string, minute: number): boolean => {
    if (minute > seriesNewest) {
      seriesNewest = minute;
      dropMinutesBefore(minute - SERIES_WINDOW_MS);
    }
    const size = seriesRowBytes(host);
    if (minute >= seriesFloor && seriesBytes + size > maxSeriesBytes) trimSeries();
    if (minute < seriesFloor || seriesBytes + size > maxSeriesBytes) return false;
    seriesBytes += size;
    seriesByMinute.set(minute, (seriesByMinute.get(minute) ?? 0) + size);
    return true;
  };
  /**
   * The newest minute SQLite held when the map last started empty (at open, and after a prune): a row for a
   * later minute can only have been written through the map, and an entry leaves the map only once its
   * minute is two before the newest; so a minute past this one and not older than that has no stored count
   * unless the map holds it, and is not read back (a read per new host was ~2% of reports' statements).
   */
  const storedMinuteFloor = (): number =>
    Number(db.exec("SELECT COALESCE(MAX(minute), 0) FROM report_minutes")[0]?.values[0]?.[0] ?? 0);
  let newestStoredMinute = storedMinuteFloor();
  const minuteEntry = (host: string, minute: number) => {
    const mk = `${host}\n${minute}`;
    let m = minutes.get(mk);
    if (!m) {
      let stored = 0;
      if (minute <= newestStoredMinute || minute < newestMinute - 120_000) {
        readMinute.bind([host, minute] as never);
        stored = readMinute.step() ? Number(readMinute.get()[0]) : 0;
        readMinute.reset();
      }
      m = { host, minute, total: stored, pending: 0, dropped: stored === 0 && !admitRow(host, minute) };
      minutes.set(mk, m);
      if (minute > newestMinute) newestMinute = minute;
    }
    return m;
  };
  /** Adds reports (in order): each one's outcome is the one it would have had stored alone. */
  const apply = (reports: readonly (GroupUpsert | Duplicate)[]): RecordOutcome[] =>
    reports.map((r) => {
      let created = false;
      const change = groupChanges.get(r.key);
      if (change) {
        change.count += 1;
        if (r.seenAt < change.first) change.first = r.seenAt;
        if (r.seenAt > change.last) change.last = r.seenAt;
      } else if (known.has(r.key)) {
        groupChanges.set(r.key, { full: undefined, count: 1, first: r.seenAt, last: r.seenAt });
      } else if ("servedChain" in r) {
        known.add(r.key);
        created = true;
        groupChanges.set(r.key, { full: r, count: 1, first: r.seenAt, last: r.seenAt });
      } else {
        // A replayed Duplicate whose group is gone: cannot happen (its key was durable when it was written,
        // and prune reloads the keys), and without the group's fields there is nothing to store it in.
        return NOT_STORED;
      }
      const m = minuteEntry(r.host, minuteOf(r.seenAt));
      m.total += 1;
      m.pending += 1;
      return { created, minuteCount: m.total, stored: true };
    });
  /**
   * Writes the pending changes into SQLite: all of them (before a read or a snapshot), or on the timer's tick
   * new groups' rows up to `maxNewBytes` (and every count). Inserting a new group costs in proportion to its
   * chains (~20 MB/s through WASM): a second's worth of 60 KB groups in one go held the event loop ~0.5 s.
   */
  const writeChanges = (maxNewBytes = Number.POSITIVE_INFINITY): boolean => {
    if (groupChanges.size === 0) return false;
    const written: string[] = [];
    let newBytes = 0;
    let more = false;
    db.run("BEGIN");
    try {
      for (const [key, c] of groupChanges) {
        if (c.full) {
          if (newBytes >= maxNewBytes) {
            more = true;
            continue;
          }
          newBytes += groupBytes(c.full);
          upsertGroup.run(params(c.full, c.count, c.first, c.last) as never);
        } else bumpGroup.run([key, c.count, c.first, c.last] as never);
        written.push(key);
      }
      for (const m of minutes.values()) {
        if (m.pending === 0 || m.dropped) continue;
        upsertMinute.bind([m.host, m.minute, m.pending] as never);
        upsertMinute.step();
        upsertMinute.reset();
      }
      db.run("COMMIT");
    } catch (error) {
      db.run("ROLLBACK");
      throw error;
    }
    if (written.length === groupChanges.size) groupChanges.clear();
    else for (const key of written) groupChanges.delete(key);
    for (const [mk, m] of minutes) {
      m.pending = 0;
      // Minutes two before the newest are done: their counts are read back from SQLite if a report comes late.
      if (m.minute < newestMinute - 120_000) minutes.delete(mk);
    }
    dirty = true;
    return more;
  };
  /**
   * Everything pending written before a read, new groups a tick's worth at a time with the event loop free
   * in between (the budget bounds how many there can be), then the counts.
   */
  const settle = async (): Promise<void> => {
    while (writeChanges(TICK_NEW_BYTES)) await new Promise((resolve) => setImmediate(resolve));
  };
  loadKeys();
  loadSeries();
  dropMinutesBefore(seriesNewest - SERIES_WINDOW_MS);
  let seq = Number(db.exec("SELECT COALESCE(MAX(seq), 0) FROM journal_position")[0]?.values[0]?.[0] ?? 0);
  const journalFile = `${file}-journal`;
  if (existsSync(journalFile)) {
    // Replay what was acknowledged after the last snapshot. A torn last line was never acknowledged. A
    // Duplicate's group is in the file or in an earlier entry: its key was durable when it was written.
    // Lines end in a tab and a checksum of their JSON (an older collector's journal has none): a line torn
    // over an older one, or the zeros past the end, fail it and are skipped; whole older lines are from
    // before the snapshot (seq at most the file's) and are skipped by their seq.
    for (const line of readFileSync(journalFile, "utf8").split("\n")) {
      let entry: { seq: number; reports: (GroupUpsert | Duplicate)[] };
      const tab = line.lastIndexOf("\t");
      const json = tab < 0 ? line : line.slice(0, tab);
      if (tab >= 0 && line.slice(tab + 1) !== lineChecksum(json)) continue;
      try {
        entry = JSON.parse(json);
      } catch {
        continue;
      }
      if (entry.seq > seq) {
        apply(entry.reports);
        seq = entry.seq;
      }
    }
    writeChanges();
  }
  loadKeys();
  const sumBytes = (): number => Number(db.exec(SUM_GROUP_BYTES)[0]?.values[0]?.[0] ?? 0);
  /** The stored groups' weight (groupBytes), counting those admitted and not yet in SQLite. */
  let storedBytes = sumBytes();
  /** Bytes in the journal since the last snapshot, and the size of the last snapshot. */
  let journalBytes = 0;
  let snapshotBytes = 0;
  const snapshot = (): void => {
    writeChanges();
    if (!dirty) return;
    db.run("DELETE FROM journal_position");
    db.run("INSERT INTO journal_position (seq) VALUES (?)", [seq]);
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w");
    try {
      const bytes = db.export();
      writeSync(fd, bytes);
      fsyncSync(fd);
      snapshotBytes = bytes.length;
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    // The journal is reused from its start; what it held is in the file now (see the replay).
    journalBytes = 0;
    dirty = false;
  };
  /**
   * The journal is written in place into space allocated (zeros written and fsynced) ahead, 4 MB at a time,
   * never appended to: an fdatasync then has only data to flush, no file size to commit to the
   * filesystem's own journal, which made each sync slower and was most of its cost under load.
   */
  const journal = openSync(journalFile, existsSync(journalFile) ? "r+" : "w+");
  let allocated = fstatSync(journal).size;
  const JOURNAL_CHUNK = 4 * 1024 * 1024;
  const SNAPSHOT_FLOOR = 3 * 1024 * 1024;
  /** New groups' bytes written into SQLite per tick (the rest waits for the next tick, or a read). */
  const TICK_NEW_BYTES = 2 * 1024 * 1024;
  const writeJournal = (text: string): number => {
    const bytes = Buffer.from(text);
    if (journalBytes + bytes.length > allocated) {
      const grow = Math.max(JOURNAL_CHUNK, bytes.length);
      writeSync(journal, Buffer.alloc(grow), 0, grow, allocated);
      fsyncSync(journal);
      allocated += grow;
    }
    writeSync(journal, bytes, 0, bytes.length, journalBytes);
    journalBytes += bytes.length;
    return bytes.length;
  };
  snapshot();
  // Writing the whole database costs in proportion to its size, so it is written once the journal holds a
  // quarter of that, and never for less than SNAPSHOT_FLOOR of journal (under a flood a small database was
  // exported, written and fsynced every second, ~10% of a report's CPU; the floor is inside the journal's
  // first 4 MB, and replaying 3 MB at start takes a fraction of a second) (at most every snapshotEveryMs): a report costs O(1) of snapshot work however large the
  // database grows, and a restart replays at most about a quarter of the database's size of journal.
  const timer = setInterval(() => {
    try {
      if (writeChanges(TICK_NEW_BYTES)) return;
      if (journalBytes >= (options.snapshotMinJournalBytes ?? Math.max(snapshotBytes / 4, SNAPSHOT_FLOOR)))
        snapshot();
    } catch {
      // the journal still holds every acknowledged report; the next tick retries
    }
  }, options.snapshotEveryMs ?? 1000);
  timer.unref();
  interface Pending {
    reports: readonly GroupUpsert[];
    resolve: (outcomes: RecordOutcome[]) => void;
    reject: (e: unknown) => void;
  }
  let pending: Pending[] = [];
  let scheduled = false;
  /**
   * The journal fdatasyncs in flight. Up to MAX_SYNCS overlap: a sync takes ~1–10 ms here, and with one at a
   * time the reports of a batch waited for the previous batch's sync and then their own. A completed sync
   * covers every entry written before it began, so batches may complete in any order.
   */
  const syncing = new Set<Promise<void>>();
  const MAX_SYNCS = 3;
  const schedule = (): void => {
    if (scheduled || syncing.size >= MAX_SYNCS || pending.length === 0) return;
    scheduled = true;
    setImmediate(flush);
  };
  /**
   * Group commit: the reports that arrived since the last batch are appended to the journal in one entry,
   * applied (to the pending changes), and fdatasynced off the event loop (the thread pool), which keeps reading
   * and parsing requests meanwhile; they are answered once the sync completes, never before.
   */
  const flush = (): void => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const all = batch.flatMap((item) => item.reports);
    const fail = (error: unknown) => {
      for (const item of batch) item.reject(error);
    };
    // The byte budget: a report of a new group that does not fit is counted, and goes no further. Its bytes are
    // added to storedBytes only once the journal holds them: a failed write (a full disk) must not count them.
    const admission = admitWithinBudget(all, (key) => known.has(key), groupBytes, {
      storedBytes,
      maxStoredBytes,
      maxStoredBytesPerClient,
      clientBytes,
    });
    notStored += admission.refused;
    const { kept: reports, placeOf, bytes: admittedBytes } = admission;
    const allOutcomes: RecordOutcome[] = all.map((_, i) => REFUSED[admission.refusals[i] ?? "budget"]);
    let outcomes: RecordOutcome[];
    // Keys written in full in this entry: a later report of the same group is a Duplicate of it.
    const fresh = new Set<string>();
    try {
      const lines = reports.map((g) => {
        if (durable.has(g.key) || fresh.has(g.key)) {
          return { key: g.key, host: g.host, seenAt: g.seenAt } satisfies Duplicate;
        }
        fresh.add(g.key);
        const { client: _client, ...row } = g;
        return row;
      });
      const json = JSON.stringify({ seq: seq + 1, reports: lines });
      writeJournal(`${json}\t${lineChecksum(json)}\n`);
      storedBytes += admittedBytes;
      addClientBytes(clientBytes, admission.byClient);
      seq += 1;
      apply(reports).forEach((o, k) => {
        allOutcomes[placeOf[k] as number] = o;
      });
      outcomes = allOutcomes;
    } catch (error) {
      fail(error);
      return;
    }
    const sync: Promise<void> = new Promise<void>((resolve) => {
      fdatasync(journal, (error) => {
        syncing.delete(sync);
        if (error) fail(error);
        else {
          for (const key of fresh) durable.add(key);
          let at = 0;
          for (const item of batch) {
            item.resolve(outcomes.slice(at, at + item.reports.length));
            at += item.reports.length;
          }
        }
        resolve();
        schedule();
      });
    });
    syncing.add(sync);
    // More reports may be waiting already (MAX_SYNCS allows another batch now).
    schedule();
  };
  /** Resolves when no sync is in flight. */
  const idle = async (): Promise<void> => {
    while (syncing.size > 0) await Promise.all(syncing);
  };
  const query = (sql: string, args: unknown[]): Record<string, unknown>[] => {
    const stmt = db.prepare(sql);
    try {
      stmt.bind(args as never);
      const rows: Record<string, unknown>[] = [];
      while (stmt.step()) rows.push(stmt.getAsObject());
      return rows;
    } finally {
      stmt.free();
    }
  };
  return {
    record(reports) {
      return new Promise((resolve, reject) => {
        pending.push({ reports, resolve, reject });
        schedule();
      });
    },
    async groups(filter) {
      await settle();
      const page = ` ORDER BY last_seen DESC, key LIMIT ${pageLimit(filter?.limit, -1)} OFFSET ${pageOffset(filter?.offset)}`;
      const rows =
        filter?.host !== undefined
          ? query(`${SELECT_GROUPS} WHERE host = ?${page}`, [filter.host])
          : query(`${SELECT_GROUPS}${page}`, []);
      return rows.map(rowToGroup);
    },
    async usage() {
      return { storedBytes, maxStoredBytes, notStored, seriesBytes, maxSeriesBytes };
    },
    async series(filter) {
      await settle();
      const since = filter?.sinceMs ?? 0;
      const page = ` ORDER BY minute DESC, host LIMIT ${pageLimit(filter?.limit, -1)}`;
      const rows =
        filter?.host !== undefined
          ? query(`SELECT host, minute, count FROM report_minutes WHERE host = ? AND minute >= ?${page}`, [
              filter.host,
              since,
            ])
          : query(`SELECT host, minute, count FROM report_minutes WHERE minute >= ?${page}`, [since]);
      return rows.reverse().map((r) => ({
        host: String(r.host),
        minute: new Date(Number(r.minute)).toISOString(),
        count: Number(r.count),
      }));
    },
    async prune(beforeMs) {
      // No batch between the sync and the prune: the durable keys are reloaded from what is left.
      await idle();
      writeChanges();
      db.run("BEGIN");
      db.run("DELETE FROM report_groups WHERE last_seen < ?", [beforeMs]);
      const deleted = db.getRowsModified();
      db.run("DELETE FROM report_minutes WHERE minute < ?", [minuteOf(beforeMs)]);
      db.run("COMMIT");
      dirty = true;
      snapshot();
      loadKeys();
      storedBytes = sumBytes();
      clientBytes.clear();
      minutes.clear();
      newestStoredMinute = storedMinuteFloor();
      seriesFloor = Math.max(seriesFloor, minuteOf(beforeMs));
      loadSeries();
      return deleted;
    },
    async close() {
      clearInterval(timer);
      await idle();
      flush();
      await idle();
      snapshot();
      closeSync(journal);
      upsertGroup.free();
      bumpGroup.free();
      upsertMinute.free();
      readMinute.free();
      db.close();
      unlock();
    },
  };
}

/**
 * The fleet store: PostgreSQL through `pg`. Several collectors may share one database with no other
 * coordination: migrations run under an advisory lock, and the reports that arrive together are one
 * transaction that adds each group's count (UPDATE count = count + n on rows locked in key order, or INSERT …
 * ON CONFLICT … DO UPDATE for a new group), atomic in PostgreSQL, committed before any of them is acknowledged.
 */
export async function openPostgresStore(url: string, options: StoreOptions = {}): Promise<ReportStore> {
  const maxStoredBytes = options.maxStoredBytes ?? DEFAULT_MAX_STORED_BYTES;
  const maxStoredBytesPerClient = options.maxStoredBytesPerClient ?? Math.floor(maxStoredBytes / 4);
  /** The bytes of new groups each client added per classification through this collector since it opened or pruned. */
  const clientBytes = new Map<string, number>();
  let notStored = 0;
  const require = createRequire(import.meta.url);
  const pg = require("pg") as typeof import("pg");
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  pool.on("error", () => {
    // an idle client's connection dropped; the pool makes a new one on the next query
  });
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(7469)");
    await client.query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const { rows } = await client.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version");
    for (let v = Number(rows[0].v); v < MIGRATIONS.length; v++) {
      await client.query(MIGRATIONS[v] as string);
      await client.query("INSERT INTO schema_version (version) VALUES ($1)", [v + 1]);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  const upsertGroup = `${UPSERT_GROUP((i) => `$${i}`)} RETURNING (xmax = 0) AS created`;
  /**
   * The stored groups' weight: read at open and every 10 s (other collectors of the fleet add to it), plus what
   * this collector inserted since. A fleet of N collectors may pass the budget by what N insert in 10 s.
   */
  const readBytes = async (): Promise<number> => Number((await pool.query(SUM_GROUP_BYTES)).rows[0].bytes);
  let storedBytes = await readBytes();
  /**
   * The series' rows by weight (seriesRowBytes): read with the window applied at open and every 10 s, plus
   * the rows this collector inserted since; `trimmedAt`, the newest minute when the series was last trimmed.
   */
  const maxSeriesBytes = Math.floor(maxStoredBytes * SERIES_SHARE);
  const WINDOW_SERIES = `DELETE FROM report_minutes
    WHERE minute < (SELECT MAX(minute) FROM report_minutes) - ${SERIES_WINDOW_MS}`;
  /** The window, and the oldest minutes until the rest is within $1 bytes (never the newest minute). */
  const TRIM_SERIES = `WITH per AS (SELECT minute, SUM(64 + length(host)) AS bytes FROM report_minutes GROUP BY minute),
      newer AS (SELECT minute, SUM(bytes) OVER (ORDER BY minute DESC) AS total FROM per)
    DELETE FROM report_minutes WHERE minute < COALESCE(
      (SELECT MIN(minute) FROM newer WHERE total <= $1), (SELECT MAX(minute) FROM report_minutes))
      OR minute < (SELECT MAX(minute) FROM report_minutes) - ${SERIES_WINDOW_MS}`;
  const readSeries = async (): Promise<number> => {
    await pool.query(WINDOW_SERIES);
    return Number((await pool.query(SUM_SERIES_BYTES)).rows[0].bytes);
  };
  let seriesBytes = await readSeries();
  let trimmedAt = Number.NEGATIVE_INFINITY;
  let windowedAt = Number.NEGATIVE_INFINITY;
  const DROP_OLD_MINUTES = `WITH gone AS (DELETE FROM report_minutes WHERE minute < $1 RETURNING host)
    SELECT COALESCE(SUM(64 + length(host)), 0) AS bytes FROM gone`;
  const refresh = setInterval(() => {
    readBytes().then(
      (bytes) => {
        storedBytes = bytes;
      },
      () => undefined,
    );
    readSeries().then(
      (bytes) => {
        seriesBytes = bytes;
      },
      () => undefined,
    );
  }, 10_000);
  refresh.unref();
  /**
   * The reports of `all` within the budget, and where each sits in `all`: when the batch's new-looking groups
   * could pass the budget, the stored keys are read first, and a report of a new group that does not fit is
   * counted and left out.
   */
  const admit = async (
    all: readonly GroupUpsert[],
  ): Promise<{ kept: GroupUpsert[]; placeOf: number[]; refusals: (Refusal | undefined)[] }> => {
    const seen = new Map<string, number>();
    const byClient = new Map<string, number>();
    let sum = 0;
    for (const g of all) {
      if (seen.has(g.key)) continue;
      const size = groupBytes(g);
      seen.set(g.key, size);
      sum += size;
      const client = shareOf(g);
      if (client !== undefined) byClient.set(client, (byClient.get(client) ?? 0) + size);
    }
    const placeOf = all.map((_, i) => i);
    // Added to storedBytes and clientBytes once stored (see flush), for the groups the store created. When
    // every group of the batch would fit even if new, the stored keys need not be read.
    const fits =
      storedBytes + sum <= Math.floor(maxStoredBytes * MIN_SHARE) &&
      [...byClient].every(([c, bytes]) => (clientBytes.get(c) ?? 0) + bytes <= maxStoredBytesPerClient);
    if (fits) return { kept: [...all], placeOf, refusals: [] };
    const { rows } = await pool.query("SELECT key FROM report_groups WHERE key = ANY($1::text[])", [
      [...seen.keys()],
    ]);
    const stored = new Set(rows.map((r: { key: string }) => r.key));
    const admission = admitWithinBudget(
      all,
      (key) => stored.has(key),
      (g) => seen.get(g.key) as number,
      { storedBytes, maxStoredBytes, maxStoredBytesPerClient, clientBytes },
    );
    notStored += admission.refused;
    return { kept: admission.kept, placeOf: admission.placeOf, refusals: admission.refusals };
  };
  /** Takes the row locks of a batch's stored groups in key order: two collectors' batches cannot deadlock. */
  const LOCK_GROUPS = "SELECT key FROM report_groups WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE";
  const BUMP_GROUPS = `UPDATE report_groups AS g SET count = g.count + i.n,
      first_seen = LEAST(g.first_seen, i.first), last_seen = GREATEST(g.last_seen, i.last)
    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS i(key, n, first, last)
    WHERE g.key = i.key`;
  const UPSERT_MINUTES = `INSERT INTO report_minutes (host, minute, count)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS i(host, minute, n) ORDER BY host, minute
    ON CONFLICT (host, minute) DO UPDATE SET count = report_minutes.count + excluded.count
    RETURNING host, minute, count, (xmax = 0) AS created`;
  /** The series over its cap: the batch's minutes add to rows already stored, and make none. */
  const BUMP_MINUTES = `UPDATE report_minutes AS r SET count = r.count + i.n
    FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS i(host, minute, n)
    WHERE r.host = i.host AND r.minute = i.minute
    RETURNING r.host, r.minute, r.count, false AS created`;
  /** One transaction for a batch: a few statements whatever its size (arrays through unnest). */
  const store = async (batch: Batch, newRows: boolean): Promise<RecordOutcome[]> => {
    const c = await pool.connect();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await c.query("BEGIN");
          const keys = batch.groups.map((g) => g.key);
          const locked = await c.query({ name: "keypin-lock-groups", text: LOCK_GROUPS, values: [keys] });
          const stored = new Set(locked.rows.map((r: { key: string }) => r.key));
          const old = batch.groups.filter((g) => stored.has(g.key));
          if (old.length > 0) {
            await c.query({
              name: "keypin-bump-groups",
              text: BUMP_GROUPS,
              values: [
                old.map((g) => g.key),
                old.map((g) => g.count),
                old.map((g) => g.first),
                old.map((g) => g.last),
              ],
            });
          }
          for (const g of batch.groups) {
            g.created = false;
            if (stored.has(g.key) || !g.full) continue;
            // Another collector may insert the key meanwhile: ON CONFLICT adds to its row, and xmax = 0 only on
            // a row this statement inserted, so exactly one collector is told the group is new.
            const inserted = await c.query({
              name: "keypin-upsert-group",
              text: upsertGroup,
              values: params(g.full, g.count, g.first, g.last),
            });
            g.created = inserted.rows[0].created === true;
          }
          const minutes = await c.query({
            name: newRows ? "keypin-upsert-minutes" : "keypin-bump-minutes",
            text: newRows ? UPSERT_MINUTES : BUMP_MINUTES,
            values: [
              batch.minutes.map((m) => m.host),
              batch.minutes.map((m) => m.minute),
              batch.minutes.map((m) => m.count),
            ],
          });
          const after = new Map<string, number>(
            minutes.rows.map((r: { host: string; minute: string; count: string }) => [
              `${r.host}\n${Number(r.minute)}`,
              Number(r.count),
            ]),
          );
          // A minute the cap left out has no row: its count is the batch's own.
          for (const m of batch.minutes)
            m.before = (after.get(`${m.host}\n${m.minute}`) ?? m.count) - m.count;
          await c.query("COMMIT");
          for (const r of minutes.rows as { host: string; created: boolean }[])
            if (r.created) seriesBytes += seriesRowBytes(r.host);
          return batch.outcomes();
        } catch (error) {
          await c.query("ROLLBACK").catch(() => undefined);
          // A deadlock or serialization failure rolled everything back: the batch can run again.
          const code = (error as { code?: string }).code;
          if ((code === "40P01" || code === "40001") && attempt < 5) continue;
          throw error;
        }
      }
    } finally {
      c.release();
    }
  };
  interface Pending {
    reports: readonly GroupUpsert[];
    resolve: (outcomes: RecordOutcome[]) => void;
    reject: (e: unknown) => void;
  }
  let pending: Pending[] = [];
  let scheduled = false;
  let inFlight = 0;
  const MAX_IN_FLIGHT = 4;
  const schedule = (): void => {
    if (scheduled || inFlight >= MAX_IN_FLIGHT || pending.length === 0) return;
    scheduled = true;
    setImmediate(flush);
  };
  /**
   * Group commit: the reports that arrived since the last batch go to PostgreSQL in one transaction (up to
   * MAX_IN_FLIGHT at once), answered once it commits. Was a transaction of four round trips per report.
   */
  const flush = (): void => {
    scheduled = false;
    const items = pending;
    pending = [];
    if (items.length === 0) return;
    inFlight += 1;
    const all = items.flatMap((item) => item.reports);
    const done = admit(all)
      .then(async ({ kept, placeOf, refusals }) => {
        const outcomes: RecordOutcome[] = all.map((_, i) => REFUSED[refusals[i] ?? "budget"]);
        if (kept.length > 0) {
          const batch = new Batch(kept);
          // The series' cap: when the batch's minutes, all new, could pass it, the oldest are trimmed first
          // (once per newest minute); if they still could, the batch makes no new minute row.
          const rows = batch.minutes.reduce((n, m) => n + seriesRowBytes(m.host), 0);
          const newest = batch.minutes.reduce((n, m) => Math.max(n, m.minute), 0);
          if (newest > windowedAt) {
            // A new minute: the series' window moves (once per minute and collector).
            windowedAt = newest;
            const gone = await pool.query(DROP_OLD_MINUTES, [newest - SERIES_WINDOW_MS]);
            seriesBytes -= Number(gone.rows[0].bytes);
          }
          if (seriesBytes + rows > maxSeriesBytes && newest > trimmedAt) {
            trimmedAt = newest;
            await pool.query(TRIM_SERIES, [Math.floor(maxSeriesBytes * SERIES_TRIM_TO)]);
            seriesBytes = Number((await pool.query(SUM_SERIES_BYTES)).rows[0].bytes);
          }
          (await store(batch, seriesBytes + rows <= maxSeriesBytes)).forEach((o, k) => {
            outcomes[placeOf[k] as number] = o;
          });
          for (const g of batch.groups) {
            if (!g.created || !g.full) continue;
            const size = groupBytes(g.full);
            storedBytes += size;
            const client = shareOf(g.full);
            if (client !== undefined) clientBytes.set(client, (clientBytes.get(client) ?? 0) + size);
          }
        }
        return outcomes;
      })
      .then(
        (outcomes) => {
          let at = 0;
          for (const item of items) {
            item.resolve(outcomes.slice(at, at + item.reports.length));
            at += item.reports.length;
          }
        },
        (error) => {
          for (const item of items) item.reject(error);
        },
      )
      .finally(() => {
        inFlight -= 1;
        running.delete(done);
        schedule();
      });
    running.add(done);
  };
  const running = new Set<Promise<void>>();
  return {
    record(reports) {
      return new Promise((resolve, reject) => {
        pending.push({ reports, resolve, reject });
        schedule();
      });
    },
    async groups(filter) {
      const page = ` ORDER BY last_seen DESC, key LIMIT ${pageLimit(filter?.limit, "ALL")} OFFSET ${pageOffset(filter?.offset)}`;
      const { rows } =
        filter?.host !== undefined
          ? await pool.query(`${SELECT_GROUPS} WHERE host = $1${page}`, [filter.host])
          : await pool.query(`${SELECT_GROUPS}${page}`);
      return rows.map(rowToGroup);
    },
    async usage() {
      return { storedBytes, maxStoredBytes, notStored, seriesBytes, maxSeriesBytes };
    },
    async series(filter) {
      const since = filter?.sinceMs ?? 0;
      const page = ` ORDER BY minute DESC, host LIMIT ${pageLimit(filter?.limit, "ALL")}`;
      const { rows } =
        filter?.host !== undefined
          ? await pool.query(
              `SELECT host, minute, count FROM report_minutes WHERE host = $1 AND minute >= $2${page}`,
              [filter.host, since],
            )
          : await pool.query(`SELECT host, minute, count FROM report_minutes WHERE minute >= $1${page}`, [
              since,
            ]);
      return rows.reverse().map((r) => ({
        host: String(r.host),
        minute: new Date(Number(r.minute)).toISOString(),
        count: Number(r.count),
      }));
    },
    async prune(beforeMs) {
      const deleted = await pool.query("DELETE FROM report_groups WHERE last_seen < $1", [beforeMs]);
      await pool.query("DELETE FROM report_minutes WHERE minute < $1", [minuteOf(beforeMs)]);
      storedBytes = await readBytes();
      seriesBytes = await readSeries();
      clientBytes.clear();
      return deleted.rowCount ?? 0;
    },
    async close() {
      while (pending.length > 0 || running.size > 0) {
        if (running.size < MAX_IN_FLIGHT) flush();
        await Promise.race(running);
      }
      clearInterval(refresh);
      await pool.end();
    },
  };
}

/** `--database`: a postgres:// or postgresql:// URL, otherwise a SQLite file. */
export function openStore(database: string, options: StoreOptions = {}): Promise<ReportStore> {
  return /^postgres(ql)?:\/\//i.test(database)
    ? openPostgresStore(database, options)
    : openSqliteStore(database, options);
}
