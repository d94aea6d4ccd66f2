// Bounded storage and answers (review 2): one client within its rate limit posted distinct ~60 KB reports of
// random base64 "PEM" blocks, each a new group, and the embedded store grew by gigabytes. Now (1) a
// certificate must parse as X.509 or the report is 400 with the reason; (2) the stored groups have a byte
// budget (maxStoredBytes): past it a report of a new group is counted (usage().notStored) and answered 202,
// not stored, while reports of stored groups still count; (3) GET /api/groups is paged (limit, offset,
// nextOffset; 100 by default, 500 at most), and GET /api/series answers its newest points (10,000 by
// default). The budget and the paging are the stores' own (SQLite in memory,
// PostgreSQL in SQL), so both run on each backend.
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  DEFAULT_GROUPS_PAGE,
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
import { getJson, post, trustKitAndroidReport } from "./helpers.js";

let chain: TestChain;
before(async () => {
  // A leaf for every host of the test (g00.budget.keypin.test…), so that each report is an interception's.
  chain = await createChain("p256", ["budget.keypin.test", "*.budget.keypin.test"], "budget");
});

const pemOf = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString("base64")
    .match(/.{1,64}/g)
    ?.join("\n")}\n-----END CERTIFICATE-----\n`;

test("a chain of random base64 in PEM shape is 400 with the reason; the control, a real chain, is 201", async () => {
  using temp = makeTempDir("keypin-budget-pem-");
  const store = await openSqliteStore(join(temp.dir, "r.db"));
  const collector = await startCollector({ store });
  try {
    const real = trustKitAndroidReport(chain, "pem.keypin.test", 443, [unrelatedPin()]);
    assert.equal((await post(collector.url, JSON.stringify(real))).status, 201, "control");
    const spki = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
      type: "spki",
      format: "der",
    });
    const fakes: [string, string][] = [
      ["random base64 (the review's attack)", pemOf(randomBytes(2700))],
      ["a public key, not a certificate", pemOf(spki)],
      [
        "a certificate with bytes after it",
        pemOf(Buffer.concat([Buffer.from(chain.leaf.der), Buffer.from([0])])),
      ],
      ["a truncated certificate", pemOf(Buffer.from(chain.leaf.der).subarray(0, 200))],
      ["two certificates in one entry", chain.leaf.pem + chain.intermediate.pem],
    ];
    for (const [what, pem] of fakes) {
      for (const field of ["served-certificate-chain", "validated-certificate-chain"]) {
        const body = {
          ...real,
          hostname: "fake.keypin.test",
          "noted-hostname": "fake.keypin.test",
          [field]: [chain.leaf.pem, pem],
        };
        const answer = await post(collector.url, JSON.stringify(body));
        assert.equal(answer.status, 400, `${what} in ${field}: ${JSON.stringify(answer.json)}`);
        assert.match(String(answer.json.error), new RegExp(`${field}\\[1\\]`), what);
      }
    }
    assert.deepEqual(await store.groups({ host: "fake.keypin.test" }), []);
  } finally {
    await collector.close();
    await store.close();
  }
});

/** The budget and the paging on one backend. */
function budgetSuite(name: string, open: (id: string, options?: StoreOptions) => Promise<ReportStore>): void {
  describe(`on ${name}`, () => {
    let now = Date.parse("2026-12-01T10:00:00Z");
    const tick = () => (now += 1000);
    const reportOf = (host: string, pins = [unrelatedPin()]) =>
      JSON.stringify(trustKitAndroidReport(chain, host, 443, pins));

    test("control: with the default budget 12 distinct groups are all stored; with a budget of 5, 5 are, the rest counted", async () => {
      // The budget is set from what the control's groups weighed (all 12 are alike): room for 5 and a half.
      let perGroup = 0;
      for (const label of ["default", "budget"] as const) {
        const options: StoreOptions =
          label === "default"
            ? {}
            : // The whole budget open to one client (the per-client share is storage-priority.test.ts's).
              {
                maxStoredBytes: Math.floor(5.5 * perGroup),
                maxStoredBytesPerClient: Math.floor(5.5 * perGroup),
              };
        const expectStored = label === "default" ? 12 : 5;
        const store = await open(`${label}`, options);
        const collector = await startCollector({ store, now: tick });
        try {
          const statuses: number[] = [];
          for (let i = 0; i < 12; i++) {
            const host = `g${String(i).padStart(2, "0")}.budget.keypin.test`;
            const answer = await post(collector.url, reportOf(host));
            statuses.push(answer.status);
            if (answer.status === 202) assert.equal(answer.json.stored, false);
          }
          assert.deepEqual(
            statuses,
            Array.from({ length: 12 }, (_, i) => (i < expectStored ? 201 : 202)),
            label,
          );
          const stored = await store.groups({});
          assert.equal(stored.length, expectStored, label);
          const usage = await store.usage();
          if (label === "default") perGroup = usage.storedBytes / 12;
          assert.equal(usage.notStored, 12 - expectStored, label);
          assert.ok(usage.storedBytes <= usage.maxStoredBytes, JSON.stringify(usage));
          const { json } = await getJson(collector.url.replace(/report$/, "api/groups"));
          assert.deepEqual((json as unknown as { storage: unknown }).storage, usage);
          if (label === "budget") {
            // A stored group keeps counting past the budget; a new one still is not stored.
            const first = stored[stored.length - 1];
            const again = trustKitAndroidReport(chain, first?.host as string, 443, []);
            again["known-pins"] = first?.knownPins as string[];
            assert.equal((await post(collector.url, JSON.stringify(again))).status, 201);
            assert.equal((await store.groups({ host: first?.host })).at(0)?.count, 2);
            assert.equal((await post(collector.url, reportOf("late.budget.keypin.test"))).status, 202);
            assert.deepEqual(
              await store.series({ host: "late.budget.keypin.test" }),
              [],
              "not in the series",
            );
          }
        } finally {
          await collector.close();
          await store.close();
        }
        if (label === "budget") {
          // Reopened: the budget holds from what is stored.
          const reopened = await open(`${label}`, options);
          try {
            const usage = await reopened.usage();
            assert.ok(usage.storedBytes <= usage.maxStoredBytes);
            // A group as heavy as the stored ones (another key and host of the same length) does not fit.
            const [like] = await reopened.groups({ limit: 1 });
            const { count: _c, firstSeen: _f, lastSeen: _l, ...fields } = like as NonNullable<typeof like>;
            const [outcome] = await reopened.record([
              { ...fields, key: "f".repeat(64), host: "g99.budget.keypin.test", seenAt: now },
            ]);
            assert.equal(outcome?.stored, false);
            assert.equal((await reopened.groups({})).length, 5);
          } finally {
            await reopened.close();
          }
        }
      }
    });

    test("GET /api/groups is paged: 100 by default, limit and offset walk every group once", async () => {
      const store = await open("paging");
      const collector = await startCollector({ store, now: tick });
      const api = collector.url.replace(/report$/, "api/groups");
      try {
        const total = DEFAULT_GROUPS_PAGE + 5;
        for (let i = 0; i < total; i++) {
          assert.equal((await post(collector.url, reportOf(`p${i}.paging.keypin.test`))).status, 201);
        }
        const first = (await getJson(api)).json as unknown as {
          groups: { id: string; lastSeen: string }[];
          nextOffset: number | null;
          limit: number;
        };
        assert.equal(first.groups.length, DEFAULT_GROUPS_PAGE, "the default page");
        assert.equal(first.nextOffset, DEFAULT_GROUPS_PAGE);
        const seen: string[] = [];
        let offset: number | null = 0;
        let pages = 0;
        while (offset !== null) {
          const { status, json } = await getJson(`${api}?limit=7&offset=${offset}`);
          assert.equal(status, 200);
          const page = json as unknown as { groups: { id: string }[]; nextOffset: number | null };
          assert.ok(page.groups.length <= 7);
          seen.push(...page.groups.map((g) => g.id));
          offset = page.nextOffset;
          pages += 1;
        }
        assert.equal(pages, Math.ceil(total / 7));
        assert.equal(seen.length, total);
        assert.equal(new Set(seen).size, total, "no group twice");
        const newest = (await getJson(`${api}?limit=1`)).json as unknown as { groups: { host: string }[] };
        assert.equal(newest.groups[0]?.host, `p${total - 1}.paging.keypin.test`, "newest first");
        const big = (await getJson(`${api}?limit=9999`)).json as unknown as { limit: number };
        assert.equal(big.limit, 500, "at most 500");
        // The series too: the newest points, and whether older ones were left out.
        const seriesApi = collector.url.replace(/report$/, "api/series");
        const all = (await getJson(seriesApi)).json as unknown as { series: unknown[]; truncated: boolean };
        assert.equal(all.series.length, total, "one point per host (each reported in one minute)");
        assert.equal(all.truncated, false);
        const few = (await getJson(`${seriesApi}?limit=10`)).json as unknown as {
          series: { host: string; minute: string }[];
          truncated: boolean;
        };
        assert.equal(few.series.length, 10);
        assert.equal(few.truncated, true);
        assert.ok(
          few.series.some((p) => p.host === `p${total - 1}.paging.keypin.test`),
          "the newest kept",
        );
        assert.deepEqual(
          few.series.map((p) => p.minute),
          few.series.map((p) => p.minute).sort(),
          "oldest first",
        );
        assert.equal((await getJson(`${seriesApi}?limit=ten`)).status, 400);
        for (const bad of ["limit=abc", "limit=-1", "offset=1e3", "limit=99999", "offset=x"]) {
          const { status, json } = await getJson(`${api}?${bad}`);
          assert.equal(status, 400, bad);
          assert.equal((json as unknown as { code: string }).code, "ERR_COLLECT_PAGE");
        }
      } finally {
        await collector.close();
        await store.close();
      }
    });
  });
}

{
  const temp = makeTempDir("keypin-budget-");
  after(() => temp.remove());
  budgetSuite("SQLite (sql.js)", (id, options) => openSqliteStore(join(temp.dir, `${id}.db`), options));
}

describe("PostgreSQL", { skip: pgUnavailable() }, () => {
  let cluster: PgCluster | undefined;
  const created = new Set<string>();
  before(async () => {
    cluster = await startPgCluster();
  });
  after(() => cluster?.stop());
  budgetSuite("PostgreSQL", async (id, options) => {
    const base = (cluster as PgCluster).url;
    if (!created.has(id)) {
      const admin = new pg.Client({ connectionString: base });
      await admin.connect();
      await admin.query(`CREATE DATABASE "budget_${id}"`);
      await admin.end();
      created.add(id);
    }
    return openPostgresStore(base.replace(/\/postgres$/, `/budget_${id}`), options);
  });
});
