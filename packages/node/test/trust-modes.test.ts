// keypin trusts exactly what Node trusts, in each of Node's trust modes: NODE_EXTRA_CA_CERTS (read at start-up),
// --use-openssl-ca (OpenSSL's store: SSL_CERT_FILE, SSL_CERT_DIR), --use-system-ca and tls.setDefaultCACertificates
// (Node 22.15+/24). Each mode runs in a child process (helpers/trust-mode-child.ts), because Node reads its trust
// configuration when the process starts. The oracle is Node itself: an unpinned client in the same process.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as tls from "node:tls";
import { promisify } from "node:util";
import {
  createChain,
  openssl,
  startHttpsServer,
  type TestChain,
  type TestServer,
  unrelatedPin,
} from "@keypin/testkit";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "keypin-trust-modes-"));
const certDir = join(dir, "certs");
const hasTrustApi = typeof (tls as { getCACertificates?: unknown }).getCACertificates === "function";
const hasSetDefault =
  typeof (tls as { setDefaultCACertificates?: unknown }).setDefaultCACertificates === "function";

/** One CA per place a CA can be, and a server whose chain ends at it. */
const NAMES = ["company", "runtime", "system", "hashed", "misnamed", "late", "nowhere"] as const;
type Name = (typeof NAMES)[number];
const chains = {} as Record<Name, TestChain>;
const servers = {} as Record<Name, TestServer>;
const file = (name: string): string => join(dir, `${name}.pem`);

before(async () => {
  mkdirSync(certDir);
  for (const name of NAMES) {
    chains[name] = await createChain("p256", ["api.keypin.test"], `${name} trust`);
    servers[name] = await startHttpsServer({ key: chains[name].leaf.keyPem, cert: chains[name].served });
    writeFileSync(file(name), chains[name].root.pem);
  }
  // OpenSSL's store: a bundle file (SSL_CERT_FILE) and a hashed directory (SSL_CERT_DIR). OpenSSL finds a
  // directory's certificate by the subject hash in its file name (openssl itself computes the name); a file
  // under any other name is never read by that lookup.
  writeFileSync(file("bundle"), chains.system.root.pem);
  const hash = openssl(["x509", "-noout", "-subject_hash", "-in", file("hashed")])
    .toString("utf8")
    .trim();
  writeFileSync(join(certDir, `${hash}.0`), chains.hashed.root.pem);
  writeFileSync(join(certDir, "misnamed.pem"), chains.misnamed.root.pem);
});
after(async () => {
  for (const name of NAMES) await servers[name]?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface TargetResult {
  unpinned: number | string;
  pinned: number | string;
  pinnedWithCa?: number | string;
  inspectTrusted: boolean;
  inspectVerified: number | undefined;
  naiveEnvPath: number | undefined;
  naiveStorePath: number | undefined;
}
interface ChildResult {
  version: string;
  hasGetCACertificates: boolean;
  results: Record<Name, TargetResult>;
  warnings: string[];
}

async function child(options: {
  targets: Name[];
  flags?: string[];
  env?: Record<string, string>;
  runtimeEnv?: Record<string, string | null>;
  setDefaultCa?: string;
  withCa?: string;
  appendFile?: [string, string];
}): Promise<ChildResult> {
  const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: "" };
  // Nothing from this machine's own trust configuration leaks into the child.
  for (const name of ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "SSL_CERT_URI"])
    delete env[name];
  Object.assign(env, options.env ?? {});
  env["KP_TARGETS"] = JSON.stringify(
    options.targets.map((name) => ({
      name,
      port: servers[name].port,
      pins: [chains[name].intermediate.pin, unrelatedPin()],
    })),
  );
  env["KP_RUNTIME_ENV"] = JSON.stringify(options.runtimeEnv ?? {});
  if (options.setDefaultCa) env["KP_SET_DEFAULT_CA"] = options.setDefaultCa;
  if (options.withCa) env["KP_WITH_CA"] = options.withCa;
  if (options.appendFile) env["KP_APPEND_FILE"] = JSON.stringify(options.appendFile);
  const script = new URL("./helpers/trust-mode-child.ts", import.meta.url).pathname;
  const { stdout } = await run(process.execPath, [...(options.flags ?? []), "--import", "tsx", script], {
    env,
  });
  const out = JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildResult;
  assert.equal(out.version, process.version);
  for (const name of options.targets) neverTrustsMore(name, out.results[name]);
  return out;
}

/** The invariant of every mode: keypin never calls trusted, nor builds a path for, a chain Node refused. */
function neverTrustsMore(name: Name, r: TargetResult): void {
  if (r.unpinned === 200) return;
  assert.notEqual(
    r.pinned,
    200,
    `${name}: Node refused the chain (${r.unpinned}) but the pinned client got 200`,
  );
  assert.equal(r.inspectTrusted, false, `${name}: inspectTls called trusted a chain Node refused`);
  assert.equal(
    r.inspectVerified,
    undefined,
    `${name}: keypin verified a path to an anchor Node does not trust`,
  );
}

function trustedByBoth(name: Name, r: TargetResult): void {
  assert.equal(r.unpinned, 200, `${name}: control, Node trusts it`);
  assert.equal(
    r.pinned,
    200,
    `${name}: keypin must not refuse a chain Node trusts (a false untrusted chain)`,
  );
  assert.equal(r.inspectTrusted, true, `${name}: inspectTls uses the same anchors`);
  assert.equal(r.inspectVerified, 3);
}

function refusedByBoth(name: Name, r: TargetResult): void {
  assert.equal(r.unpinned, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", `${name}: Node's own refusal`);
  assert.equal(
    r.pinned,
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    `${name}: the pinned client fails the same way`,
  );
}

describe("NODE_EXTRA_CA_CERTS: Node reads it at start-up, and so does keypin", () => {
  test("a CA in NODE_EXTRA_CA_CERTS at start-up is trusted by Node and keypin; a CA nowhere by neither", async () => {
    const out = await child({
      targets: ["company", "nowhere"],
      env: { NODE_EXTRA_CA_CERTS: file("company") },
    });
    trustedByBoth("company", out.results.company);
    refusedByBoth("nowhere", out.results.nowhere);
  });

  test("a value set only at run time (a dotenv loader) is not trusted: Node refuses, keypin builds no path", async () => {
    const out = await child({ targets: ["runtime"], runtimeEnv: { NODE_EXTRA_CA_CERTS: file("runtime") } });
    const r = out.results.runtime;
    refusedByBoth("runtime", r);
    assert.equal(r.naiveEnvPath, 3, "control: anchors read lazily from process.env would trust this chain");
    assert.equal(r.inspectVerified, undefined);
    assert.equal(r.inspectTrusted, false);
  });

  test("a value changed at run time: the start-up CA stays trusted, the new one is trusted by neither", async () => {
    const out = await child({
      targets: ["company", "runtime"],
      env: { NODE_EXTRA_CA_CERTS: file("company") },
      runtimeEnv: { NODE_EXTRA_CA_CERTS: file("runtime") },
    });
    trustedByBoth("company", out.results.company);
    refusedByBoth("runtime", out.results.runtime);
    assert.equal(out.results.runtime.naiveEnvPath, 3, "control: the run-time value names the attacker's CA");
    assert.equal(out.results.company.naiveEnvPath, undefined, "control: the run-time value lost the real CA");
  });

  test("a value removed at run time: Node still trusts the start-up CA; keypin trusts it or says why not", async () => {
    const out = await child({
      targets: ["company"],
      env: { NODE_EXTRA_CA_CERTS: file("company") },
      runtimeEnv: { NODE_EXTRA_CA_CERTS: null },
    });
    const r = out.results.company;
    assert.equal(r.unpinned, 200, "control: Node loaded the file at start-up");
    if (out.hasGetCACertificates) {
      // getCACertificates('default') reads process.env.NODE_EXTRA_CA_CERTS and drops the extra certificates; keypin
      // cannot tell that from setDefaultCACertificates(bundled), so it fails closed, and says so.
      assert.equal(r.pinned, "ERR_KEYPIN_UNTRUSTED_CHAIN");
      assert.ok(out.warnings.some((w) => w.includes("NODE_EXTRA_CA_CERTS was removed from process.env")));
    } else {
      trustedByBoth("company", r); // Node 20: the start-up value, from /proc/self/environ
    }
  });

  test("a NODE_EXTRA_CA_CERTS file changed after start-up: keypin never trusts what Node did not load", async () => {
    const startupFile = join(dir, "company-then-more.pem");
    writeFileSync(startupFile, chains.company.root.pem);
    const out = await child({
      targets: ["company", "runtime"],
      env: { NODE_EXTRA_CA_CERTS: startupFile },
      appendFile: [startupFile, file("runtime")],
    });
    const { company, runtime } = out.results;
    assert.equal(company.unpinned, 200);
    assert.equal(runtime.naiveEnvPath, 3, "control: the file now names the attacker's CA");
    if (out.hasGetCACertificates) {
      // Node 22+ loads the file once (off the main thread, early or at first use) and getCACertificates('extra')
      // lists what it loaded, whichever side of the change that was: keypin agrees either way.
      trustedByBoth("company", company);
      if (runtime.unpinned === 200) trustedByBoth("runtime", runtime);
      else refusedByBoth("runtime", runtime);
    } else {
      // Node 20 loaded it at start-up; keypin cannot know which certificates it loaded, so it trusts none of them.
      refusedByBoth("runtime", runtime);
      assert.equal(company.pinned, "ERR_KEYPIN_UNTRUSTED_CHAIN", "fails closed");
      assert.ok(out.warnings.some((w) => w.includes("changed after the process started")));
    }
  });
});

describe("--use-openssl-ca: the anchors are OpenSSL's store (SSL_CERT_FILE, SSL_CERT_DIR), as for the connection", () => {
  const storeEnv = {
    SSL_CERT_FILE: file("bundle"),
    SSL_CERT_DIR: certDir,
    NODE_EXTRA_CA_CERTS: file("company"),
  };

  test("a genuine server whose CA is in the store is pinned, not refused; a misnamed file is trusted by neither", async () => {
    const out = await child({
      targets: ["system", "hashed", "misnamed", "company", "nowhere"],
      flags: ["--use-openssl-ca"],
      env: storeEnv,
      withCa: file("runtime"),
    });
    const { system, hashed, misnamed, company, nowhere } = out.results;
    trustedByBoth("system", system);
    assert.equal(
      system.naiveEnvPath,
      undefined,
      "control: bundled roots + NODE_EXTRA_CA_CERTS lack the store's CA",
    );
    assert.equal(system.pinnedWithCa, 200, "a `ca` option adds to the store");
    trustedByBoth("hashed", hashed);
    assert.notEqual(misnamed.unpinned, 200, "OpenSSL's hashed lookup never opens misnamed.pem");
    assert.equal(misnamed.naiveStorePath, 3, "control: reading every file of SSL_CERT_DIR would trust it");
    trustedByBoth("company", company);
    assert.equal(company.pinnedWithCa, 200);
    refusedByBoth("nowhere", nowhere);
    assert.deepEqual(out.warnings, [], "the anchors are known exactly: nothing to warn about");
  });

  test("the flag in NODE_OPTIONS counts as on the command line", async () => {
    const out = await child({
      targets: ["system", "misnamed"],
      env: { ...storeEnv, NODE_OPTIONS: '--max-old-space-size=256 "--use-openssl-ca"' },
    });
    trustedByBoth("system", out.results.system);
    assert.notEqual(out.results.misnamed.unpinned, 200);
  });

  test("NODE_OPTIONS set at run time changes nothing: Node and keypin keep the bundled store", async () => {
    const out = await child({
      targets: ["system"],
      env: storeEnv,
      runtimeEnv: { NODE_OPTIONS: "--use-openssl-ca" },
    });
    refusedByBoth("system", out.results.system);
  });

  test("SSL_CERT_FILE changed at run time: keypin trusts only what both stores hold, and says so", async () => {
    const out = await child({
      targets: ["system", "late", "hashed"],
      flags: ["--use-openssl-ca"],
      env: { SSL_CERT_FILE: file("bundle"), SSL_CERT_DIR: certDir },
      runtimeEnv: { SSL_CERT_FILE: file("late") },
    });
    for (const name of ["system", "late"] as const) {
      const r = out.results[name];
      assert.notEqual(r.pinned, 200, `${name}: only in one of the two stores`);
      // keypin's connections trust exactly its list here, so OpenSSL itself refuses on keypin's connection.
      assert.equal(r.pinned, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", `${name}: fails closed`);
    }
    trustedByBoth("hashed", out.results.hashed);
    assert.ok(out.warnings.some((w) => w.includes("SSL_CERT_FILE or SSL_CERT_DIR changed since start-up")));
  });

  test("setDefaultCACertificates replaces OpenSSL's store for Node and keypin alike (Node 22.19+/24.5+)", async () => {
    if (!hasSetDefault) {
      assert.equal(Number(process.versions.node.split(".")[0]), 20, "only Node 20 here lacks the API");
      return;
    }
    const out = await child({
      targets: ["late", "system"],
      flags: ["--use-openssl-ca"],
      env: storeEnv,
      setDefaultCa: file("late"),
    });
    trustedByBoth("late", out.results.late);
    refusedByBoth("system", out.results.system);
  });
});

describe("--use-system-ca and setDefaultCACertificates: keypin reads tls.getCACertificates()", () => {
  test("--use-system-ca: a CA of the system store is trusted by both (Node 22/24); Node 20 has no such flag", async () => {
    if (!hasTrustApi) {
      assert.throws(
        () => execFileSync(process.execPath, ["--use-system-ca", "-e", "0"], { stdio: "pipe" }),
        /bad option: --use-system-ca/,
      );
      return;
    }
    const out = await child({
      targets: ["system", "hashed", "misnamed", "company"],
      flags: ["--use-system-ca"],
      env: { SSL_CERT_FILE: file("bundle"), SSL_CERT_DIR: certDir, NODE_EXTRA_CA_CERTS: file("company") },
    });
    // Node's system store on Linux reads every file of SSL_CERT_DIR, not only hash-named ones.
    for (const name of ["system", "hashed", "misnamed", "company"] as const)
      trustedByBoth(name, out.results[name]);
  });

  test("setDefaultCACertificates: the replaced list is the anchors, the NODE_EXTRA_CA_CERTS CA no longer", async () => {
    if (!hasSetDefault) {
      assert.equal(Number(process.versions.node.split(".")[0]), 20, "only Node 20 here lacks the API");
      return;
    }
    const out = await child({
      targets: ["system", "company"],
      env: { NODE_EXTRA_CA_CERTS: file("company") },
      setDefaultCa: file("system"),
    });
    trustedByBoth("system", out.results.system);
    refusedByBoth("company", out.results.company);
  });
});
