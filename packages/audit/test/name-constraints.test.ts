// An audit CA made with --name-constraints is valid only for the names its constraints permit: a client that
// trusts it refuses a leaf for any other name (curl: "permitted subtree violation") however it pins, so a refusal
// there proves nothing about a pin, and a control on a host inside the constraints cannot make it one.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type AuditCa, loadOrCreateAuditCa, permitsHost, startAudit } from "@keypin/audit";
import {
  createChain,
  curl,
  makeTempDir,
  startHttpsServer,
  type TempDir,
  type TestChain,
  type TestServer,
} from "@keypin/testkit";

const INSIDE = "api.audit.test";
const APEX = "audit.test"; // outside "*.audit.test": the subdomains only
const OTHER = "www.bank.test";

let genuine: TestChain;
let server: TestServer;
let tmp: TempDir;
let ca: AuditCa;
let trust = "";

before(async () => {
  genuine = await createChain("p256", [INSIDE, APEX, OTHER], "genuine");
  server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  tmp = makeTempDir("keypin-audit-nc-verdicts-");
  ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca"), nameConstraints: ["*.audit.test"] });
  trust = join(tmp.dir, "trusts-audit.pem");
  writeFileSync(trust, genuine.root.pem + ca.certPem);
});

after(async () => {
  await server.close();
  tmp.remove();
});

const url = (host: string): string => `https://${host}:${server.port}/`;

test("a host outside the audit CA's name constraints is never inferred pinned: ca-not-trusted, said why, and its expectation fails", async () => {
  const audit = await startAudit({
    ca,
    expectPinned: [APEX, OTHER],
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
  });
  // The same unpinned curl, trusting the audit CA, on every host: no pinning anywhere.
  const inside = await curl(["--proxy", audit.proxy.url, "--cacert", trust, url(INSIDE)]);
  const apex = await curl(["--proxy", audit.proxy.url, "--cacert", trust, url(APEX)]);
  const other = await curl(["--proxy", audit.proxy.url, "--cacert", trust, url(OTHER)]);
  const report = await audit.finish();
  assert.equal(inside.code, 0, inside.stderr);
  // curl's own word: the refusal is the constraint's, not a pin (60: the peer's certificate is not trusted).
  for (const r of [apex, other]) {
    assert.equal(r.code, 60, r.stderr);
    assert.match(r.stderr, /permitted subtree violation/);
  }
  const of = (host: string) => report.verdicts.filter((v) => v.host === host);
  assert.deepEqual(
    of(INSIDE).map((v) => v.verdict),
    ["intercepted"],
    "the control",
  );
  for (const host of [APEX, OTHER]) {
    const [v, ...more] = of(host);
    assert.equal(more.length, 0);
    assert.equal(v?.verdict, "ca-not-trusted", `${host}: ${JSON.stringify(v)}`);
    assert.equal(v?.evidence.control, undefined, "no control is used for it");
    assert.deepEqual(v?.evidence.outsideNameConstraints, [".audit.test"]);
    assert.match(v?.explanation ?? "", /outside the audit CA's name constraints/);
    assert.match(v?.explanation ?? "", /--name-constraints/);
  }
  assert.equal(report.expectation?.ok, false);
  assert.deepEqual(report.expectation?.failing, [
    { host: APEX, verdict: "ca-not-trusted" },
    { host: OTHER, verdict: "ca-not-trusted" },
  ]);
});

test("permitsHost says what openssl verify says of the audit CA's forged leaf, for each constraint form", async () => {
  using dir = makeTempDir("keypin-audit-nc-oracle-");
  const cases: { constraints: string[]; hosts: string[] }[] = [
    {
      constraints: ["*.audit.test"],
      hosts: ["api.audit.test", "a.b.audit.test", "audit.test", "xaudit.test", "10.0.2.2"],
    },
    {
      constraints: ["api.example.test"],
      hosts: ["api.example.test", "v2.api.example.test", "example.test", "::1"],
    },
    {
      constraints: [".example.test", "127.0.0.1", "[::1]"],
      hosts: ["www.example.test", "example.test", "127.0.0.1", "127.0.0.2", "::1", "0:0::1", "::2"],
    },
    { constraints: ["10.0.2.2"], hosts: ["10.0.2.2", "10.0.2.3", "api.example.test"] },
  ];
  let refused = 0;
  for (const [i, { constraints, hosts }] of cases.entries()) {
    const constrained = await loadOrCreateAuditCa({
      dir: join(dir.dir, `ca${i}`),
      nameConstraints: constraints,
    });
    for (const host of hosts) {
      const leaf = join(dir.dir, `leaf-${i}.pem`);
      writeFileSync(leaf, (await constrained.forge(host)).cert);
      const r = spawnSync(
        "openssl",
        ["verify", "-CAfile", constrained.certPath, "-purpose", "sslserver", leaf],
        {
          encoding: "utf8",
        },
      );
      const ok = r.status === 0;
      if (!ok) {
        refused += 1;
        assert.match(r.stdout + r.stderr, /name constraint|permitted subtree|excluded subtree/i, host);
      }
      assert.equal(permitsHost(constrained.nameConstraints, host), ok, `${constraints.join(",")} vs ${host}`);
      // The raw --name-constraints entries read the same as the CA's normalised ones.
      assert.equal(permitsHost(constraints, host), ok, `raw ${constraints.join(",")} vs ${host}`);
    }
  }
  assert.ok(refused >= 8, "the oracle refused some hosts: the cases test both answers");
  assert.equal(permitsHost([], "anything.test"), true, "no constraints: every host");
});
