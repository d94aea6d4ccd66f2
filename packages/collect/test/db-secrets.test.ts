// `keypin collect --database` never prints a password (review 6). pg takes one from a URL's userinfo, from its
// query (?password=, ?sslpassword=) and libpq writes key=value words; each is masked in the start-up line and
// in every error, including an error whose text (from the server or pg) quotes the secret. The oracle for
// "pg really reads it": pg-connection-string, the parser pg itself uses.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { type AddressInfo, createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { databaseSecrets, describeDatabase, redactDatabaseSecrets } from "@keypin/collect";
import { makeTempDir, type PgCluster, pgUnavailable, runCli, startPgCluster } from "@keypin/testkit";
import pg from "pg";
import { spawnCollector } from "./cli-process.js";

const parse = createRequire(import.meta.url)("pg-connection-string").parse as (
  s: string,
) => Record<string, string | undefined>;

/** The forms, each with the secret pg reads from it (decoded) and the field it lands in. */
const FORMS: { database: string; field: string; secret: string; raw?: string }[] = [
  { database: "postgres://u:SECRET-ui-2@127.0.0.1:1/k", field: "password", secret: "SECRET-ui-2" },
  { database: "postgres://u@127.0.0.1:1/k?password=SECRET-q-1", field: "password", secret: "SECRET-q-1" },
  {
    database: "postgresql://u@127.0.0.1:1/k?sslmode=disable&sslpassword=SECRET-ssl-3",
    field: "sslpassword",
    secret: "SECRET-ssl-3",
  },
  {
    database: "postgres://u:SECRET%2Fenc-5@127.0.0.1:1/k",
    field: "password",
    secret: "SECRET/enc-5",
    raw: "SECRET%2Fenc-5",
  },
  {
    database: "postgres://u@127.0.0.1:1/k?application_name=x&password=SECRET%20sp-6",
    field: "password",
    secret: "SECRET sp-6",
    raw: "SECRET%20sp-6",
  },
  {
    database: "postgres://u@127.0.0.1:1/k?password=SECRET-a-7&password=SECRET-b-7",
    field: "password",
    secret: "SECRET-b-7",
    raw: "SECRET-a-7",
  },
  // A raw '@' in the password: WHATWG URL (pg's parser) ends the userinfo at the last '@' before the host.
  {
    database: "postgres://collector:s3cr@SECRET-at-13@127.0.0.1:1/keypin",
    field: "password",
    secret: "s3cr@SECRET-at-13",
  },
  { database: "postgres://u:SECRET:c@l-14@127.0.0.1:1/k", field: "password", secret: "SECRET:c@l-14" },
];

test("pg reads each form's secret (control), and `keypin collect` prints none of them", async () => {
  for (const form of FORMS) {
    assert.equal(parse(form.database)[form.field], form.secret, `pg reads ${form.field} of ${form.database}`);
    const result = await runCli(["collect", "--listen", "127.0.0.1:0", "--database", form.database]);
    const out = result.stdout + result.stderr;
    assert.equal(result.code, 1, out);
    assert.match(out, /could not open the database .*\*\*\*/);
    for (const s of [form.secret, form.raw, "SECRET"].filter(Boolean)) {
      assert.ok(!out.includes(s as string), `${form.database}: ${out}`);
    }
  }
});

test("the library masks the password pg reads when it holds a raw '@', in the database's name and in any error text", () => {
  for (const database of [
    "postgres://collector:s3cr@tPassw0rd@127.0.0.1:1/keypin",
    "postgresql://u:a@b@c@db.internal:5432/k?sslmode=disable",
    "postgres://u:p@ss word@127.0.0.1/k",
    "postgres://u@x:pw@dd9@127.0.0.1/k",
    "postgres://u:pa@sZ9@/k?host=/var/run/postgresql",
  ]) {
    const password = parse(database).password as string;
    assert.ok(password.includes("@"), `pg reads a password with '@' from ${database}: ${password}`);
    const shown = describeDatabase(database);
    assert.match(shown, /:\*\*\*@/, shown);
    // No part of the password after its first '@' either (the old masking showed it).
    const tail = password.slice(password.indexOf("@") + 1);
    for (const part of [password, tail]) assert.ok(!shown.includes(part), `${database} shown as ${shown}`);
    assert.ok(databaseSecrets(database).includes(password), `${password} in ${databaseSecrets(database)}`);
    // An error (pg's, the server's, a store failure given to onError) that quotes the password or the URL.
    const error = `connect failed for ${database}: password "${password}" refused (${encodeURIComponent(password)})`;
    const masked = redactDatabaseSecrets(error, database);
    for (const part of [password, tail, encodeURIComponent(password)]) {
      assert.ok(!masked.includes(part), masked);
    }
  }
});

test("libpq's key=value form is a usage error (no SQLite file of that name), its password masked", async () => {
  using temp = makeTempDir("keypin-collect-kv-");
  for (const database of [
    "host=127.0.0.1 port=1 password=SECRET-kv-8 dbname=k",
    "host=127.0.0.1 password='SECRET kv \\' 9' dbname=k",
    "dbname=k sslpassword = SECRET-kv-10",
  ]) {
    const result = await runCli(["collect", "--listen", "127.0.0.1:0", "--database", database], {
      cwd: temp.dir,
    });
    const out = result.stdout + result.stderr;
    assert.equal(result.code, 2, out);
    assert.match(out, /not libpq's key=value form/);
    assert.ok(!out.includes("SECRET"), out);
  }
  assert.deepEqual(readdirSync(temp.dir), [], "no file named after the connection string");
});

test("an error whose text quotes the secret (here from the server) is masked too", async () => {
  // A server that answers pg's startup message with a FATAL ErrorResponse quoting the password it was given.
  const secret = "SECRET-echo-11";
  const server = createServer((socket) => {
    socket.once("data", () => {
      const fields = Buffer.concat([
        Buffer.from(`SFATAL\0VFATAL\0C28P01\0Mno such role; you sent password=${secret} and ${secret}\0\0`),
      ]);
      const head = Buffer.alloc(5);
      head.write("E", 0);
      head.writeInt32BE(fields.length + 4, 1);
      socket.end(Buffer.concat([head, fields]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const database = `postgres://u@127.0.0.1:${port}/k?password=${secret}`;
  try {
    // The control: pg's own error carries the secret.
    const client = new pg.Client({ connectionString: database });
    const error = await client.connect().then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(String(error?.message), new RegExp(secret));
    assert.doesNotMatch(redactDatabaseSecrets(String(error?.message), database), new RegExp(secret));
    const result = await runCli(["collect", "--listen", "127.0.0.1:0", "--database", database]);
    const out = result.stdout + result.stderr;
    assert.equal(result.code, 1, out);
    assert.match(out, /no such role; you sent password=\*\*\* and \*\*\*/);
    assert.ok(!out.includes(secret), out);
  } finally {
    server.close();
  }
});

describe("on a real PostgreSQL, the start-up line", { skip: pgUnavailable() }, () => {
  let cluster: PgCluster | undefined;
  before(async () => {
    cluster = await startPgCluster();
  });
  after(() => cluster?.stop());

  test("names the database with ?password= masked (trust auth: the collector starts)", async () => {
    const url = `${(cluster as PgCluster).url}?password=SECRET-live-12`;
    const collector = await spawnCollector(url);
    try {
      assert.match(collector.stdout(), /storing reports in postgres:\/\/.*\?password=\*\*\*/);
      assert.ok(!(collector.stdout() + collector.stderr()).includes("SECRET"));
    } finally {
      await collector.stop();
    }
  });

  test("names the database with a userinfo password holding '@' masked whole", async () => {
    const url = (cluster as PgCluster).url.replace("keypin@", "keypin:s3cr@SECRET-live-15@");
    assert.equal(parse(url).password, "s3cr@SECRET-live-15", "pg reads the whole password (control)");
    const collector = await spawnCollector(url);
    try {
      assert.match(collector.stdout(), /storing reports in postgres:\/\/keypin:\*\*\*@127\.0\.0\.1:/);
      assert.ok(!(collector.stdout() + collector.stderr()).includes("SECRET"));
    } finally {
      await collector.stop();
    }
  });
});
