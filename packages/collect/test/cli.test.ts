// `keypin collect` as a user runs it: its options, the ingest URL it prints, the default database file, and
// the token it demands before it serves the dashboard and API beyond loopback.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createChain, makeTempDir, runCli, unrelatedPin } from "@keypin/testkit";
import { spawnCollector } from "./cli-process.js";
import { post, trustKitAndroidReport } from "./helpers.js";

test("a bad --listen is a usage error (exit 2) that says what it needs", async () => {
  for (const listen of ["nonsense", "127.0.0.1", "127.0.0.1:99999", "[::1:80"]) {
    const result = await runCli(["collect", "--listen", listen]);
    assert.equal(result.code, 2, `${listen}: ${result.stderr}`);
    assert.match(result.stderr, /--listen of `keypin collect` needs HOST:PORT/);
  }
  for (const days of ["0", "-1", "seven", "1.5"]) {
    const result = await runCli(["collect", `--retain-days=${days}`]);
    assert.equal(result.code, 2, `${days}: ${result.stderr}`);
    assert.match(result.stderr, /--retain-days of `keypin collect` needs a whole number of days/);
  }
  for (const [args, message] of [
    [["--alert-rate", "10"], /--alert-rate of `keypin collect` needs --alert-webhook URL/],
    [
      ["--alert-webhook", "http://127.0.0.1:1/", "--alert-rate=0"],
      /needs a whole number of reports per minute/,
    ],
    [["--alert-webhook", "ftp://example.com/"], /--alert-webhook .*must be an http or https URL/],
    [["--alert-webhook", "not a url"], /--alert-webhook of `keypin collect`/],
  ] as const) {
    const result = await runCli(["collect", ...args]);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});

test("the default database is ./keypin-reports.db; the printed ingest URL takes a report", async () => {
  using temp = makeTempDir("keypin-collect-cli-");
  const collector = await spawnCollector(undefined, { cwd: temp.dir });
  try {
    assert.match(collector.url, /^http:\/\/127\.0\.0\.1:\d+\/report$/);
    assert.ok(existsSync(join(temp.dir, "keypin-reports.db")));
    const chain = await createChain("p256", ["cli.keypin.test"], "cli");
    const answer = await post(
      collector.url,
      JSON.stringify(trustKitAndroidReport(chain, "cli.keypin.test", 443, [unrelatedPin()])),
    );
    assert.equal(answer.status, 201);
  } finally {
    await collector.stop();
  }
  // A second collector on a file that a running one owns fails at start (exit 1), naming the owner.
  const owner = await spawnCollector(undefined, { cwd: temp.dir });
  try {
    const second = await runCli(["collect", "--listen", "127.0.0.1:0"], { cwd: temp.dir });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /in use by process \d+/);
  } finally {
    await owner.stop();
  }
});

test("beyond loopback the API needs a token (KEYPIN_COLLECT_TOKEN); ingest does not; the token is never printed", async () => {
  using temp = makeTempDir("keypin-collect-cli-");
  const refused = await runCli(["collect", "--listen", "0.0.0.0:0", "--database", join(temp.dir, "r.db")]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /need a token: set KEYPIN_COLLECT_TOKEN/);
  const token = "t0ken-0123456789abcdef";
  const collector = await spawnCollector(undefined, {
    args: ["--listen", "0.0.0.0:0", "--database", join(temp.dir, "r.db")],
    env: { KEYPIN_COLLECT_TOKEN: token },
  });
  try {
    const port = new URL(collector.url).port;
    const api = `http://127.0.0.1:${port}/api/groups`;
    assert.equal((await fetch(api)).status, 401, "no token");
    assert.equal(
      (await fetch(api, { headers: { authorization: "Bearer wrong-token-0000000" } })).status,
      401,
    );
    const ok = await fetch(api, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    const chain = await createChain("p256", ["open.keypin.test"], "open");
    const body = JSON.stringify(trustKitAndroidReport(chain, "open.keypin.test", 443, [unrelatedPin()]));
    assert.equal(
      (await post(`http://127.0.0.1:${port}/report`, body)).status,
      201,
      "devices report without a token",
    );
  } finally {
    await collector.stop();
  }
  assert.ok(!collector.stdout().includes(token) && !collector.stderr().includes(token));
});
