// The collector's suite (suite.ts) on PostgreSQL: a real server from Debian's postgresql, started in a
// temporary directory, one database per store name. Outside CI, a machine without PostgreSQL skips it
// with the reason; in CI (CI=true) it fails.
import { describe } from "node:test";
import { openPostgresStore } from "@keypin/collect";
import { type PgCluster, pgUnavailable, startPgCluster } from "@keypin/testkit";
import pg from "pg";
import { collectorSuite } from "./suite.js";

const skip = pgUnavailable();
let cluster: PgCluster | undefined;
const created = new Set<string>();

describe("the collector suite on PostgreSQL", { skip }, () => {
  collectorSuite({
    name: "postgres",
    setup: async () => {
      cluster = await startPgCluster();
    },
    teardown: async () => cluster?.stop(),
    async open(name) {
      const base = (cluster as PgCluster).url;
      if (!created.has(name)) {
        const admin = new pg.Client({ connectionString: base });
        await admin.connect();
        await admin.query(`CREATE DATABASE "keypin_${name}"`);
        await admin.end();
        created.add(name);
      }
      return openPostgresStore(base.replace(/\/postgres$/, `/keypin_${name}`));
    },
  });
});
