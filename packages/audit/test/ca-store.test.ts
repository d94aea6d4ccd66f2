// The audit CA on disk: made once, reused with its key, key mode 0600, short-lived, and with --name-constraints
// refused by a real verifier (openssl verify) for any host outside the audited ones.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CA_CERT_FILE, CA_KEY_FILE, loadOrCreateAuditCa } from "@keypin/audit";
import { makeTempDir } from "@keypin/testkit";

function opensslVerify(
  caFile: string,
  leafPem: string,
  dir: string,
  name: string,
): { ok: boolean; out: string } {
  const leafFile = join(dir, `${name}.pem`);
  writeFileSync(leafFile, leafPem);
  const r = spawnSync("openssl", ["verify", "-CAfile", caFile, "-purpose", "sslserver", leafFile], {
    encoding: "utf8",
  });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

test("the audit CA is made once (cert and key 0600 in the directory), then reused with the same key", async () => {
  using tmp = makeTempDir("keypin-audit-ca-");
  const dir = join(tmp.dir, "ca");
  const first = await loadOrCreateAuditCa({ dir });
  assert.equal(first.created, true);
  assert.equal(first.certPath, join(dir, CA_CERT_FILE));
  assert.equal(statSync(join(dir, CA_KEY_FILE)).mode & 0o777, 0o600);
  const lifetime = first.notAfter.getTime() - Date.now();
  assert.ok(lifetime > 29 * 86400_000 && lifetime <= 30 * 86400_000, "30 days");
  const again = await loadOrCreateAuditCa({ dir });
  assert.equal(again.created, false);
  assert.equal(again.pin, first.pin);
  // A leaf forged by the reused CA verifies against the first run's certificate (same key).
  const leaf = await again.forge("api.example.test");
  assert.ok(opensslVerify(first.certPath, leaf.cert, tmp.dir, "leaf").ok);
  // The CA key is nowhere in what the store hands out (the forged leaf's key is a different key).
  const caKey = readFileSync(join(dir, CA_KEY_FILE), "utf8");
  assert.ok(!JSON.stringify({ ...again, forge: undefined }).includes(caKey.split("\n")[1]!));
  assert.notEqual(leaf.key, caKey);
  // An expired CA is replaced.
  const later = await loadOrCreateAuditCa({ dir, now: new Date(Date.now() + 31 * 86400_000) });
  assert.equal(later.created, true);
  assert.notEqual(later.pin, first.pin);
});

test("--name-constraints: openssl accepts a forged leaf for an audited host and refuses one for any other host", async () => {
  using tmp = makeTempDir("keypin-audit-nc-");
  const ca = await loadOrCreateAuditCa({ dir: tmp.dir, nameConstraints: ["api.example.test", "127.0.0.1"] });
  assert.ok(opensslVerify(ca.certPath, (await ca.forge("api.example.test")).cert, tmp.dir, "in").ok);
  assert.ok(opensslVerify(ca.certPath, (await ca.forge("127.0.0.1")).cert, tmp.dir, "ip").ok);
  // Control: the same CA's leaf for a bank is refused for the name constraint, not for anything else.
  const outside = opensslVerify(ca.certPath, (await ca.forge("www.bank.test")).cert, tmp.dir, "out");
  assert.equal(outside.ok, false);
  assert.match(outside.out, /name constraint|permitted subtree/i);
  // A CA without constraints for the same host verifies: the refusal above is the constraint's.
  const free = await loadOrCreateAuditCa({ dir: join(tmp.dir, "free") });
  assert.ok(opensslVerify(free.certPath, (await free.forge("www.bank.test")).cert, tmp.dir, "free").ok);
  // Other constraints: the CA is replaced, not reused with the wrong limits.
  assert.equal((await loadOrCreateAuditCa({ dir: tmp.dir, nameConstraints: ["other.test"] })).created, true);
});
