import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
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
export type GroupUpsert = Omit<GroupRecord, "count" | "firstSeen" | "lastSeen"> & { seenAt: number };

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
}

/** The collector's storage. `record` resolves only once the reports are durably stored. */
export interface ReportStore {
  record(reports: readonly GroupUpsert[]): Promise<RecordOutcome[]>;
  groups(filter?: { host?: string | undefined }): Promise<GroupRecord[]>;
  series(filter?: { host?: string | undefined; sinceMs?: number | undefined }): Promise<SeriesPoint[]>;
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
];

const UPSERT_GROUP = (p: (i: number) => string) => `INSERT INTO report_groups
  (key, host, port, noted_host, served_chain, validated_chain, known_pins, result, source, classification, evidence, count, first_seen, last_seen)
  VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(p).join(", ")}, 1, ${p(12)}, ${p(12)})
  ON CONFLICT (key) DO UPDATE SET count = report_groups.count + 1,
    first_seen = CASE WHEN excluded.first_seen < report_groups.first_seen THEN excluded.first_seen ELSE report_groups.first_seen END,
    last_seen = CASE WHEN excluded.last_seen > report_groups.last_seen THEN excluded.last_seen ELSE report_groups.last_seen END`;
const UPSERT_MINUTE = (
  p: (i: number) => string,
) => `INSERT INTO report_minutes (host, minute, count) VALUES (${p(1)}, ${p(2)}, 1)
  ON CONFLICT (host, minute) DO UPDATE SET count = report_minutes.count + 1`;

function params(g: GroupUpsert): unknown[] {
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
    g.seenAt,
  ];
}

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

const minuteOf = (ms: number): number => Math.floor(ms / 60_000) * 60_000;

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
 * journal next to it (`FILE-journal`). A batch of reports (those that arrive together) is appended to the
 * journal and fdatasynced, then applied in one transaction, before any of them resolves: an acknowledged
 * report survives a kill. About once a second the database is written to a temporary file, fsynced and
 * renamed over FILE with the journal's sequence number in it, and the journal is emptied; at open the
 * journal entries after that number are replayed. One process owns the file; a fleet uses PostgreSQL.
 */
export async function openSqliteStore(
  file: string,
  options: { snapshotEveryMs?: number } = {},
): Promise<ReportStore> {
  const unlock = lockFile(file);
  const require = createRequire(import.meta.url);
  const initSqlJs = require("sql.js") as typeof import("sql.js").default;
  const SQL = await initSqlJs();
  const db = existsSync(file) ? new SQL.Database(readFileSync(file)) : new SQL.Database();
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
  const upsertGroup = UPSERT_GROUP((i) => `?${i}`);
  const upsertMinute = UPSERT_MINUTE((i) => `?${i}`);
  const scalar = (sql: string, args: unknown[]): unknown => {
    const stmt = db.prepare(sql);
    try {
      stmt.bind(args as never);
      return stmt.step() ? stmt.get()[0] : undefined;
    } finally {
      stmt.free();
    }
  };
  const apply = (reports: readonly GroupUpsert[]): RecordOutcome[] =>
    reports.map((g) => {
      // One process owns the database, so the look-up and the upsert cannot interleave with another's.
      const created = scalar("SELECT 1 FROM report_groups WHERE key = ?", [g.key]) === undefined;
      db.run(upsertGroup, params(g) as never);
      const minute = minuteOf(g.seenAt);
      db.run(upsertMinute, [g.host, minute]);
      const minuteCount = Number(
        scalar("SELECT count FROM report_minutes WHERE host = ? AND minute = ?", [g.host, minute]),
      );
      return { created, minuteCount };
    });
  let seq = Number(db.exec("SELECT COALESCE(MAX(seq), 0) FROM journal_position")[0]?.values[0]?.[0] ?? 0);
  const journalFile = `${file}-journal`;
  if (existsSync(journalFile)) {
    // Replay what was acknowledged after the last snapshot. A torn last line was never acknowledged.
    db.run("BEGIN");
    for (const line of readFileSync(journalFile, "utf8").split("\n")) {
      let entry: { seq: number; reports: GroupUpsert[] };
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      if (entry.seq > seq) {
        apply(entry.reports);
        seq = entry.seq;
      }
    }
    db.run("COMMIT");
  }
  let dirty = true;
  const snapshot = (): void => {
    if (!dirty) return;
    db.run("DELETE FROM journal_position");
    db.run("INSERT INTO journal_position (seq) VALUES (?)", [seq]);
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, db.export());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    ftruncateSync(journal, 0);
    dirty = false;
  };
  const journal = openSync(journalFile, "a");
  snapshot();
  const timer = setInterval(() => {
    try {
      snapshot();
    } catch {
      // the journal still holds every acknowledged report; the next snapshot retries
    }
  }, options.snapshotEveryMs ?? 1000);
  timer.unref();
  let pending: {
    reports: readonly GroupUpsert[];
    resolve: (outcomes: RecordOutcome[]) => void;
    reject: (e: unknown) => void;
  }[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const reports = batch.flatMap((item) => item.reports);
    try {
      writeSync(journal, `${JSON.stringify({ seq: seq + 1, reports })}\n`);
      fdatasyncSync(journal);
      seq += 1;
      db.run("BEGIN");
      let outcomes: RecordOutcome[];
      try {
        outcomes = apply(reports);
        db.run("COMMIT");
      } catch (error) {
        db.run("ROLLBACK");
        throw error;
      }
      dirty = true;
      let at = 0;
      for (const item of batch) {
        item.resolve(outcomes.slice(at, at + item.reports.length));
        at += item.reports.length;
      }
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
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
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    async groups(filter) {
      const rows =
        filter?.host !== undefined
          ? query(`${SELECT_GROUPS} WHERE host = ? ORDER BY last_seen DESC`, [filter.host])
          : query(`${SELECT_GROUPS} ORDER BY last_seen DESC`, []);
      return rows.map(rowToGroup);
    },
    async series(filter) {
      const since = filter?.sinceMs ?? 0;
      const rows =
        filter?.host !== undefined
          ? query(
              "SELECT host, minute, count FROM report_minutes WHERE host = ? AND minute >= ? ORDER BY minute",
              [filter.host, since],
            )
          : query("SELECT host, minute, count FROM report_minutes WHERE minute >= ? ORDER BY minute", [
              since,
            ]);
      return rows.map((r) => ({
        host: String(r.host),
        minute: new Date(Number(r.minute)).toISOString(),
        count: Number(r.count),
      }));
    },
    async prune(beforeMs) {
      db.run("BEGIN");
      db.run("DELETE FROM report_groups WHERE last_seen < ?", [beforeMs]);
      const deleted = db.getRowsModified();
      db.run("DELETE FROM report_minutes WHERE minute < ?", [minuteOf(beforeMs)]);
      db.run("COMMIT");
      dirty = true;
      snapshot();
      return deleted;
    },
    async close() {
      clearInterval(timer);
      flush();
      snapshot();
      closeSync(journal);
      db.close();
      unlock();
    },
  };
}

/**
 * The fleet store: PostgreSQL through `pg`. Several collectors may share one database with no other
 * coordination: migrations run under an advisory lock, and each report is one INSERT … ON CONFLICT … DO
 * UPDATE SET count = count + 1, atomic in PostgreSQL, committed before the report is acknowledged.
 */
export async function openPostgresStore(url: string): Promise<ReportStore> {
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
  const upsertGroup = UPSERT_GROUP((i) => `$${i}`);
  const upsertMinute = UPSERT_MINUTE((i) => `$${i}`);
  return {
    async record(reports) {
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        const outcomes: RecordOutcome[] = [];
        for (const g of reports) {
          // xmax = 0 only on a row this statement inserted: the group is new, whichever collector asks.
          const group = await c.query(`${upsertGroup} RETURNING (xmax = 0) AS created`, params(g));
          const minute = await c.query(`${upsertMinute} RETURNING count`, [g.host, minuteOf(g.seenAt)]);
          outcomes.push({
            created: group.rows[0].created === true,
            minuteCount: Number(minute.rows[0].count),
          });
        }
        await c.query("COMMIT");
        return outcomes;
      } catch (error) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        c.release();
      }
    },
    async groups(filter) {
      const { rows } =
        filter?.host !== undefined
          ? await pool.query(`${SELECT_GROUPS} WHERE host = $1 ORDER BY last_seen DESC`, [filter.host])
          : await pool.query(`${SELECT_GROUPS} ORDER BY last_seen DESC`);
      return rows.map(rowToGroup);
    },
    async series(filter) {
      const since = filter?.sinceMs ?? 0;
      const { rows } =
        filter?.host !== undefined
          ? await pool.query(
              "SELECT host, minute, count FROM report_minutes WHERE host = $1 AND minute >= $2 ORDER BY minute",
              [filter.host, since],
            )
          : await pool.query(
              "SELECT host, minute, count FROM report_minutes WHERE minute >= $1 ORDER BY minute",
              [since],
            );
      return rows.map((r) => ({
        host: String(r.host),
        minute: new Date(Number(r.minute)).toISOString(),
        count: Number(r.count),
      }));
    },
    async prune(beforeMs) {
      const deleted = await pool.query("DELETE FROM report_groups WHERE last_seen < $1", [beforeMs]);
      await pool.query("DELETE FROM report_minutes WHERE minute < $1", [minuteOf(beforeMs)]);
      return deleted.rowCount ?? 0;
    },
    async close() {
      await pool.end();
    },
  };
}

/** `--database`: a postgres:// or postgresql:// URL, otherwise a SQLite file. */
export function openStore(database: string): Promise<ReportStore> {
  return /^postgres(ql)?:\/\//i.test(database) ? openPostgresStore(database) : openSqliteStore(database);
}
