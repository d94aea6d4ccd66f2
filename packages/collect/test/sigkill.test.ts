// A report is acknowledged only after it is stored (issue 17): `keypin collect` on a SQLite file is killed
// with SIGKILL in the middle of a flood; reopened, the file holds at least every acknowledged report (and
// no more than were sent). Then a collector starts on the same file again (the dead process's lock is taken over).
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { openSqliteStore } from "@keypin/collect";
import { createChain, makeTempDir, unrelatedPin } from "@keypin/testkit";
import { spawnCollector } from "./cli-process.js";
import { post, trustKitAndroidReport } from "./helpers.js";

test("SIGKILL mid-flood loses no acknowledged report", async () => {
  using temp = makeTempDir("keypin-sigkill-");
  const file = join(temp.dir, "reports.db");
  const chain = await createChain("p256", ["kill.keypin.test"], "kill");
  const body = JSON.stringify(trustKitAndroidReport(chain, "kill.keypin.test", 443, [unrelatedPin()]));
  const collector = await spawnCollector(file);
  let acked = 0;
  let sent = 0;
  let failed = 0;
  let killed = false;
  // 30 clients in a loop, each POSTing until the collector dies.
  const client = async (): Promise<void> => {
    while (true) {
      sent += 1;
      try {
        const answer = await post(collector.url, body);
        if (answer.status === 201) acked += 1;
        else failed += 1;
      } catch {
        failed += 1;
        if (killed) return;
      }
      if (acked >= 600 && !killed) {
        killed = true;
        collector.child.kill("SIGKILL");
      }
    }
  };
  await Promise.all(Array.from({ length: 30 }, client));
  await collector.stop();
  assert.equal(collector.child.signalCode, "SIGKILL");
  assert.ok(failed > 0, "some requests were cut off by the kill (the flood was still going)");
  const store = await openSqliteStore(file);
  const groups = await store.groups({ host: "kill.keypin.test" });
  await store.close();
  assert.equal(groups.length, 1);
  const count = groups[0]?.count ?? 0;
  assert.ok(count >= acked, `stored ${count} < acknowledged ${acked}`);
  assert.ok(count <= sent, `stored ${count} > sent ${sent}`);
  // The collector starts again on the same file and keeps counting.
  const again = await spawnCollector(file);
  assert.equal((await post(again.url, body)).status, 201);
  await again.stop();
  const reopened = await openSqliteStore(file);
  assert.equal((await reopened.groups({ host: "kill.keypin.test" }))[0]?.count, count + 1);
  await reopened.close();
});
