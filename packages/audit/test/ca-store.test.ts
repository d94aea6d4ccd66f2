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

/** openssl's reading of the CA's NameConstraints extension (the permitted and excluded lines). */
function opensslNameConstraints(caFile: string): string {
  const r = spawnSync("openssl", ["x509", "-in", caFile, "-noout", "-ext", "nameConstraints"], {
    encoding: "utf8",
  });
  return r.stdout;
}

test("--name-constraints with IPv6 hosts and subdomain forms: openssl accepts each audited host's leaf and refuses every other", async () => {
  using tmp = makeTempDir("keypin-audit-nc6-");
  const ca = await loadOrCreateAuditCa({
    dir: tmp.dir,
    nameConstraints: [
      "[::1]",
      "2001:DB8:0:0::10",
      "*.api.example.test",
      ".cdn.example.test",
      "exact.example.test.",
    ],
  });
  // Normalised: IPv6 in canonical text, "*." as a leading dot (subdomains only), no trailing dot.
  assert.deepEqual(ca.nameConstraints, [
    ".api.example.test",
    ".cdn.example.test",
    "2001:db8::10",
    "::1",
    "exact.example.test",
  ]);
  const shown = opensslNameConstraints(ca.certPath);
  // Each IPv6 host is one address: a /128 mask (16 bytes of address, 16 of mask, as openssl prints them).
  assert.match(shown, /Permitted:[\s\S]*IP:0:0:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF/);
  assert.match(shown, /IP:2001:DB8:0:0:0:0:0:10\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF/);
  // No IPv4 host was given: every IPv4 address is excluded (else IPv4 would be unconstrained, RFC 5280).
  assert.match(shown, /Excluded:[\s\S]*IP:0\.0\.0\.0\/0\.0\.0\.0/);

  const verdict = async (host: string) => {
    const r = opensslVerify(
      ca.certPath,
      (await ca.forge(host)).cert,
      tmp.dir,
      host.replace(/[^a-z0-9]/gi, "_"),
    );
    return r.ok
      ? "ok"
      : /name constraint|permitted subtree|excluded subtree/i.test(r.out)
        ? "constraint"
        : r.out;
  };
  const accepted = [
    "::1",
    "0:0:0:0:0:0:0:1", // the same address written out: the SAN holds the bytes
    "2001:db8::10",
    "v1.api.example.test",
    "a.b.cdn.example.test",
    "exact.example.test",
    "www.exact.example.test",
  ];
  const refused = [
    "::2", // another IPv6 host
    "2001:db8::11",
    "::ffff:127.0.0.1", // an IPv4-mapped IPv6 address is another 16-byte address
    "127.0.0.1", // IPv4, excluded whole
    "api.example.test", // "*.api.example.test" covers names under it, not the name itself
    "cdn.example.test",
    "notexact.example.test", // a suffix match must end on a label boundary
    "www.bank.test", // a DNS host outside
  ];
  for (const host of accepted) assert.equal(await verdict(host), "ok", `${host} should be accepted`);
  for (const host of refused) assert.equal(await verdict(host), "constraint", `${host} should be refused`);
  // The forged IPv6 leaf names its host in an IP SAN (Node reads the 16 bytes back as the same address).
  const { X509Certificate } = await import("node:crypto");
  assert.equal(new X509Certificate((await ca.forge("::1")).cert).checkIP("::1"), "::1");
  // Control: an unconstrained CA's leaves for the same refused hosts verify, so the refusals are the constraints'.
  const free = await loadOrCreateAuditCa({ dir: join(tmp.dir, "free") });
  for (const host of ["::2", "127.0.0.1", "api.example.test"])
    assert.ok(opensslVerify(free.certPath, (await free.forge(host)).cert, tmp.dir, "free").ok, host);
});

test("--name-constraints of DNS names only: IP hosts are refused too (a CA with a DNS-only permitted list forges IPs)", async () => {
  using tmp = makeTempDir("keypin-audit-nc-dns-");
  // The attack on the naive encoding (permitted DNS only, as RFC 5280 reads it: IPs unconstrained), made with the
  // openssl CLI: its leaf for 127.0.0.1 verifies, so a CA left on a phone would still intercept any IP host.
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: tmp.dir, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "naive.key",
    "-out",
    "naive.pem",
    "-subj",
    "/CN=naive",
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
    "-addext",
    "nameConstraints=critical,permitted;DNS:api.example.test",
  ]);
  writeFileSync(join(tmp.dir, "leaf.cnf"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  run(["req", "-new", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=leaf"]);
  run([
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "naive.pem",
    "-CAkey",
    "naive.key",
    "-CAcreateserial",
    "-out",
    "leaf.pem",
    "-days",
    "1",
    "-extfile",
    "leaf.cnf",
  ]);
  const naive = opensslVerify(
    join(tmp.dir, "naive.pem"),
    readFileSync(join(tmp.dir, "leaf.pem"), "utf8"),
    tmp.dir,
    "naive-leaf",
  );
  assert.ok(naive.ok, `the naive constraint lets an IP leaf through: ${naive.out}`);

  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca"), nameConstraints: ["api.example.test"] });
  assert.ok(opensslVerify(ca.certPath, (await ca.forge("api.example.test")).cert, tmp.dir, "in").ok);
  for (const host of ["127.0.0.1", "::1", "10.0.0.1"]) {
    const r = opensslVerify(ca.certPath, (await ca.forge(host)).cert, tmp.dir, "ip");
    assert.equal(r.ok, false, host);
    assert.match(r.out, /name constraint|excluded subtree/i);
  }
  // And the other way: IP hosts only, so every DNS name is excluded (the empty dNSName).
  const ipOnly = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ip"), nameConstraints: ["127.0.0.1"] });
  assert.ok(opensslVerify(ipOnly.certPath, (await ipOnly.forge("127.0.0.1")).cert, tmp.dir, "ip-in").ok);
  for (const host of ["localhost", "www.bank.test", "::1"]) {
    const r = opensslVerify(ipOnly.certPath, (await ipOnly.forge(host)).cert, tmp.dir, "ip-out");
    assert.equal(r.ok, false, host);
    assert.match(r.out, /name constraint|excluded subtree|permitted subtree/i);
  }
});

test("--name-constraints refuses an entry that is no host, naming it and what is accepted", async () => {
  using tmp = makeTempDir("keypin-audit-nc-bad-");
  for (const bad of [
    "a b.test",
    "https://api.example.test",
    "*.*.example.test",
    "-x.test",
    "1.2.3.4/24",
    "010.1.1.1", // not an IPv4 address for Node (a leading zero), and no DNS name either
    "1.2.3",
    "::1::2",
  ]) {
    await assert.rejects(loadOrCreateAuditCa({ dir: tmp.dir, nameConstraints: [bad] }), (error: Error) => {
      assert.ok(error instanceof RangeError);
      assert.ok(error.message.includes(`"${bad}"`), error.message);
      assert.match(error.message, /IPv4 or IPv6 address/);
      return true;
    });
  }
});

test("--name-constraints: an IPv6 address with a zone (fe80::1%eth0) is refused with the entry named, never a crash", async () => {
  using tmp = makeTempDir("keypin-audit-nc-zone-");
  for (const bad of ["fe80::1%eth0", "[::1%1]", "::1%25lo"]) {
    await assert.rejects(loadOrCreateAuditCa({ dir: tmp.dir, nameConstraints: [bad] }), (error: Error) => {
      assert.ok(error instanceof RangeError, `${bad}: ${error.name}`);
      assert.ok(error.message.includes(`"${bad}"`), error.message);
      assert.match(error.message, /zone/);
      return true;
    });
  }
});
