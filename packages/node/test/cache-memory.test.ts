// Review F2, bounded memory per peer-controlled input: a forging peer whose CA the client trusts serves a fresh
// large leaf (~63 KB of DER, 7000 SANs, made with openssl) on every connection. The caches used to be bounded by
// entry count only (2048 certificates, 1024 reports keyed by the whole report with its PEM chains), so such a peer
// made a pinned client keep hundreds of MB. Here the unpinned control accepts each forgery (OpenSSL trusts the
// CA, so keypin's checks really run on every one), the pinned client refuses each with a pin mismatch, and every
// cache stays within its byte budget; after the caches have turned over many times the genuine chain is still
// accepted and a wrong pin still refused. No timing and no heap measurement here (the test runner has no
// --expose-gc): the caches' own weighed totals are read through functions exported for tests only.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { promisify } from "node:util";
import type { PinFailureReport } from "@keypin/core";
import {
  type Issued,
  makeCa,
  makeLeaf,
  makeTempDir,
  openssl,
  opensslPinOfCertificateFile,
  type TempDir,
} from "@keypin/testkit";
import { pinnedTlsOptions } from "../src/clients.js";
import { inspectTls, trustSetupCacheStats } from "../src/inspect-tls.js";
import { certificateCacheStats } from "../src/parsed-certificate.js";
import { keyCacheStats } from "../src/public-key.js";
import { reportCacheStats } from "../src/report-sender.js";
import { anchorSetCacheStats } from "../src/trust-anchors.js";

const run = promisify(execFile);
const HOST = "pinned.keypin.test";
/** Leaves made; the in-process tests serve the first IN_PROCESS, the heap measurement all of them. */
const FORGED = 96;
const IN_PROCESS = 40;
const SANS = 7000;

let tmp: TempDir;
let genuineCa: Issued;
let genuineLeaf: Issued;
let forgingCa: Issued;
const forgedLeaves: string[] = [];
let forgedKey = "";
let forgingPort = 0;
let genuinePort = 0;
const closers: (() => Promise<void>)[] = [];

/** A TLS server serving `certs[i % n]` on its i-th connection. */
async function serve(key: string, certs: readonly string[]): Promise<number> {
  const contexts = certs.map((cert) => tls.createSecureContext({ key, cert }));
  let next = 0;
  const server = tls.createServer(
    { SNICallback: (_n, cb) => cb(null, contexts[next++ % contexts.length]) },
    (s) => {
      s.on("error", () => {});
      s.end();
    },
  );
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

type Outcome = { authorized: boolean; peerDer: number } | { code: string | undefined; message: string };

function handshake(port: number, options: tls.ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = tls.connect({ ...options, host: "127.0.0.1", port, servername: HOST });
    socket.once("secureConnect", () => {
      const peerDer = socket.getPeerCertificate().raw?.length ?? 0;
      resolve({ authorized: socket.authorized, peerDer });
      socket.destroy();
    });
    socket.once("error", (error: Error & { code?: string }) => {
      resolve({ code: error.code, message: error.message });
      socket.destroy();
    });
  });
}

/** Every cache of @keypin/node with its weighed bytes and budget. */
function allCaches() {
  const certs = certificateCacheStats();
  return {
    parsed: certs.parsed,
    described: certs.described,
    keys: keyCacheStats(),
    reports: reportCacheStats(),
    trustSetups: trustSetupCacheStats(),
    anchorSets: anchorSetCacheStats(),
  };
}

function assertWithinBudgets(when: string): void {
  for (const [name, cache] of Object.entries(allCaches())) {
    assert.ok(Number.isFinite(cache.maxBytes), `${name} has a byte budget`);
    assert.ok(cache.maxBytes <= 8 * 1024 * 1024, `${name}'s budget is a few MiB (${cache.maxBytes})`);
    assert.ok(
      cache.bytes <= cache.maxBytes,
      `${when}: ${name} holds ${cache.bytes} bytes > ${cache.maxBytes}`,
    );
  }
}

async function waitFor(done: () => boolean, what: () => string = () => ""): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(done(), `gave up waiting (${what()})`);
}

before(async () => {
  tmp = makeTempDir("keypin-cache-memory-");
  const dir = tmp.dir;
  genuineCa = makeCa(dir, "genuine-ca", "/CN=Genuine Root", { days: 30 });
  genuineLeaf = makeLeaf(dir, "genuine-leaf", [HOST], genuineCa, { days: 30 });
  forgingCa = makeCa(dir, "forging-ca", "/CN=Forging Proxy CA", { days: 30 });
  // One key and CSR; each leaf its own serial, as a forging proxy mints a new certificate per connection.
  const keyPath = join(dir, "forged.key");
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyPath]);
  const csrPath = join(dir, "forged.csr");
  openssl(["req", "-new", "-key", keyPath, "-subj", `/CN=${HOST}`, "-out", csrPath]);
  const names = [`DNS.1=${HOST}`];
  for (let i = 2; i <= SANS; i++) names.push(`DNS.${i}=s${i}.t`);
  const ext = join(dir, "forged.ext");
  writeFileSync(ext, ["basicConstraints=CA:FALSE", "subjectAltName=@alt", "[alt]", ...names, ""].join("\n"));
  // Two openssl processes at a time (the machine has two cores); each leaf takes ~60 ms.
  const paths = Array.from({ length: FORGED }, (_, i) => join(dir, `forged-${i}.pem`));
  const sign = (out: string, i: number) =>
    run("openssl", [
      "x509",
      "-req",
      "-in",
      csrPath,
      "-CA",
      forgingCa.certPath,
      "-CAkey",
      forgingCa.keyPath,
      "-set_serial",
      String(5000 + i),
      "-days",
      "30",
      "-extfile",
      ext,
      "-out",
      out,
    ]);
  for (let i = 0; i < FORGED; i += 2)
    await Promise.all(paths.slice(i, i + 2).map((out, j) => sign(out, i + j)));
  forgedLeaves.push(...paths.map((path) => readFileSync(path, "utf8")));
  forgedKey = openssl(["pkey", "-in", keyPath]).toString("utf8");
  forgingPort = await serve(forgedKey, forgedLeaves.slice(0, IN_PROCESS));
  genuinePort = await serve(genuineLeaf.key, [genuineLeaf.cert]);
});

after(async () => {
  for (const close of closers) await close();
  tmp?.remove();
});

describe("review F2: a forging peer serving a fresh large leaf per connection", () => {
  test("the forged leaves are large and distinct, and the unpinned control accepts them", async () => {
    const ders = forgedLeaves.map((pem) => new X509Certificate(pem).raw);
    assert.equal(ders.length, FORGED);
    assert.equal(new Set(ders.map((d) => d.toString("base64"))).size, FORGED);
    for (const der of ders)
      assert.ok(der.length > 60_000 && der.length < 90_000, `DER of ${der.length} bytes`);
    // Each one, cached at the old bounds (2048 certificates in each of two caches), would have held over 100 MB.
    for (let i = 0; i < 3; i++) {
      const outcome = await handshake(forgingPort, { ca: [forgingCa.cert] });
      assert.ok("authorized" in outcome && outcome.authorized, JSON.stringify(outcome));
      assert.ok(outcome.peerDer > 60_000);
    }
  });

  test("the pinned client refuses every forgery, reports each once, and every cache stays within its budget", async () => {
    const pins = [
      opensslPinOfCertificateFile(genuineCa.certPath),
      opensslPinOfCertificateFile(genuineLeaf.certPath),
    ];
    const reports: PinFailureReport[] = [];
    const options = pinnedTlsOptions({
      policy: { domains: { [HOST]: { pins } } },
      ca: [forgingCa.cert, genuineCa.cert],
      onReport: (report) => reports.push(report),
      onWarning: () => {},
    });

    // Warm: the genuine chain is accepted and its certificates enter the caches.
    const warm = await handshake(genuinePort, options);
    assert.ok("authorized" in warm && warm.authorized, JSON.stringify(warm));

    const reportsBefore = reportCacheStats().size;
    let weighedSeen = 0;
    // Two rounds over the 40 leaves: the first fills and turns the caches over; the second meets only leaves
    // reported within 24 hours, which must not be reported again (the digest still dedupes).
    for (let i = 0; i < 2 * IN_PROCESS; i++) {
      const outcome = await handshake(forgingPort, options);
      assert.ok("code" in outcome, `forgery ${i} was accepted`);
      assert.equal(outcome.code, "ERR_KEYPIN_PIN_MISMATCH", outcome.message);
      weighedSeen += 40 * new X509Certificate(forgedLeaves[i % IN_PROCESS]!).raw.length;
      assertWithinBudgets(`after forgery ${i}`);
    }
    // The budgets were really reached: what the peer sent, weighed as `parsed` weighs it, is many times over them.
    const caches = allCaches();
    assert.ok(weighedSeen > 10 * caches.parsed.maxBytes);
    assert.ok(
      caches.parsed.size < IN_PROCESS,
      `parsed keeps ${caches.parsed.size} of the ${IN_PROCESS} large leaves`,
    );
    assert.ok(caches.described.size < IN_PROCESS, `described keeps ${caches.described.size}`);

    await waitFor(
      () => reports.length >= IN_PROCESS,
      () => `${reports.length} reports`,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(reports.length, IN_PROCESS, "each forged chain reported once, not once per connection");
    for (const report of reports)
      assert.ok(JSON.stringify(report).length > 80_000, "the reports carry the PEM");
    const held = reportCacheStats();
    assert.equal(held.size - reportsBefore, IN_PROCESS);
    for (const key of held.keys)
      assert.match(key, /^[A-Za-z0-9+/]{43}=$/, "a SHA-256 digest, not the report");
    assert.ok(held.bytes <= held.size * 200, `${held.bytes} bytes for ${held.size} entries`);

    // After eviction the genuine chain is read again and still accepted.
    const genuine = await handshake(genuinePort, options);
    assert.ok("authorized" in genuine && genuine.authorized, JSON.stringify(genuine));
    assertWithinBudgets("after the genuine chain");
  });

  test("after the caches turned over, a wrong pin still refuses the genuine chain", async () => {
    const wrong = opensslPinOfCertificateFile(forgingCa.certPath);
    const options = pinnedTlsOptions({
      policy: { domains: { [HOST]: { pins: [wrong, `sha256/${Buffer.alloc(32, 7).toString("base64")}`] } } },
      ca: [forgingCa.cert, genuineCa.cert],
      onWarning: () => {},
    });
    for (let i = 0; i < 5; i++) await handshake(forgingPort, options); // the forged chain matches this pin
    const outcome = await handshake(genuinePort, options);
    assert.ok("code" in outcome, "the genuine chain passed a pin it does not carry");
    assert.equal(outcome.code, "ERR_KEYPIN_PIN_MISMATCH", outcome.message);
    assertWithinBudgets("after the wrong pin");
  });

  test("inspectTls over the forging peer reads each leaf and keeps its caches within budget", async () => {
    for (let i = 0; i < 12; i++) {
      const seen = await inspectTls({
        host: HOST,
        port: forgingPort,
        connectHost: "127.0.0.1",
        ca: [forgingCa.cert],
        timeout: 10_000,
      });
      assert.equal(seen.trusted, true, seen.authorizationError ?? seen.pathProblem ?? seen.hostnameError);
      assert.ok(seen.served[0]!.subjectAltNames.dns.length === SANS);
      assertWithinBudgets(`after inspection ${i}`);
    }
  });

  test("measured on the V8 heap (child with --expose-gc): the pinned client keeps about what the control keeps", async (t) => {
    const pins = [
      opensslPinOfCertificateFile(genuineCa.certPath),
      opensslPinOfCertificateFile(genuineLeaf.certPath),
    ];
    const child = new URL("./helpers/cache-memory-child.ts", import.meta.url).pathname;
    const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", child], {
      env: {
        ...process.env,
        NODE_OPTIONS: "",
        KP_DIR: tmp.dir,
        KP_HOST: HOST,
        KP_PINS: JSON.stringify(pins),
      },
      timeout: 60_000,
    });
    const seen = JSON.parse(stdout.trim().split("\n").pop()!) as {
      handshakes: number;
      control: { retainedMb: number; accepted: number };
      pinned: { retainedMb: number; accepted: number };
      reports: number;
    };
    assert.equal(seen.handshakes, FORGED);
    assert.equal(seen.control.accepted, FORGED, "the unpinned control accepts every forgery");
    assert.equal(seen.pinned.accepted, 0, "the pinned client refuses every forgery");
    assert.equal(seen.reports, FORGED);
    t.diagnostic(
      `retained heap: control ${seen.control.retainedMb.toFixed(1)} MB, pinned ${seen.pinned.retainedMb.toFixed(1)} MB`,
    );
    // Before the byte budgets, each of these leaves kept ~260 KB (its reading) + ~170 KB (its report as the
    // dedupe key): ~40 MB for 96. The budgets allow 8 MiB of weighed certificate readings (under half of it on the
    // heap) and 256 KiB of report digests.
    assert.ok(
      seen.pinned.retainedMb < seen.control.retainedMb + 16,
      `pinned kept ${seen.pinned.retainedMb.toFixed(1)} MB, control ${seen.control.retainedMb.toFixed(1)} MB`,
    );
  });
});
