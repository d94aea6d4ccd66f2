// `keypin collect`'s options for the review's fixes: --allow-host (a reverse proxy's name, beside the loopback
// names a collector with no token accepts: DNS rebinding) and --max-stored-mib (the stored groups' byte
// budget), through the built CLI; curl --resolve is the outside client that sends the foreign Host.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { createChain, makeTempDir, runCli, unrelatedPin } from "@keypin/testkit";
import { spawnCollector } from "./cli-process.js";
import { getJson, post, trustKitAndroidReport } from "./helpers.js";

const run = promisify(execFile);
const status = async (name: string, port: string): Promise<number> => {
  const { stdout } = await run("curl", [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "--max-time",
    "10",
    "--resolve",
    `${name}:${port}:127.0.0.1`,
    `http://${name}:${port}/api/groups`,
  ]);
  return Number(stdout);
};

test("--allow-host: without it a proxy's name is refused like a rebound one (control); with it that name passes", async () => {
  using temp = makeTempDir("keypin-collect-guards-");
  const plain = await spawnCollector(join(temp.dir, "a.db"));
  try {
    const port = new URL(plain.url).port;
    assert.equal(await status("127.0.0.1", port), 200);
    assert.equal(await status("reports.example.com", port), 403);
  } finally {
    await plain.stop();
  }
  const allowed = await spawnCollector(undefined, {
    args: [
      "--listen",
      "127.0.0.1:0",
      "--database",
      join(temp.dir, "b.db"),
      "--allow-host",
      "reports.example.com, other.example.com:8443",
    ],
  });
  try {
    const port = new URL(allowed.url).port;
    assert.equal(await status("reports.example.com", port), 200);
    assert.equal(await status("other.example.com", port), 403, "other.example.com is allowed on 8443 only");
    assert.equal(await status("rebind.attacker.example", port), 403);
  } finally {
    await allowed.stop();
  }
});

test("--max-stored-mib: a bad value is a usage error; 1 MiB stores groups until it is full, then counts them (202)", async () => {
  for (const bad of ["0", "abc", "1.5", "-3", "2000000"]) {
    const result = await runCli(["collect", "--listen", "127.0.0.1:0", `--max-stored-mib=${bad}`]);
    assert.equal(result.code, 2, `${bad}: ${result.stderr}`);
    assert.match(result.stderr, /--max-stored-mib of `keypin collect` needs a whole number of MiB/);
  }
  using temp = makeTempDir("keypin-collect-guards-");
  const collector = await spawnCollector(undefined, {
    args: ["--listen", "127.0.0.1:0", "--database", join(temp.dir, "c.db"), "--max-stored-mib", "1"],
  });
  try {
    const chain = await createChain("p256", ["full.keypin.test"], "full");
    const statuses: number[] = [];
    for (let i = 0; i < 1000 && !statuses.includes(202); i++) {
      const body = JSON.stringify(
        trustKitAndroidReport(chain, `h${i}.full.keypin.test`, 443, [unrelatedPin()]),
      );
      statuses.push((await post(collector.url, body)).status);
    }
    const firstFull = statuses.indexOf(202);
    assert.ok(firstFull > 10, `some groups fit in 1 MiB first: ${firstFull}`);
    assert.ok(statuses.slice(0, firstFull).every((s) => s === 201));
    const { json } = await getJson(collector.url.replace(/report$/, "api/groups?limit=1"));
    const storage = (
      json as unknown as { storage: { maxStoredBytes: number; storedBytes: number; notStored: number } }
    ).storage;
    assert.equal(storage.maxStoredBytes, 1024 * 1024);
    assert.ok(storage.storedBytes <= storage.maxStoredBytes);
    assert.equal(storage.notStored, 1);
    assert.match(collector.stderr(), /at its byte budget/, "the operator is told once");
  } finally {
    await collector.stop();
  }
});
