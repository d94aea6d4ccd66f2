// The built `keypin` CLI pointed at the real mitmproxy (mitmdump 8, Debian's package), as a developer would point it
// at the mitmproxy on their desk: `inspect` shows what a device that trusts mitmproxy's CA accepts (a forged leaf
// that carries the CA's own key), `check` passes direct and fails through it. curl is the unpinned control and a
// second, independent pinning client.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  answerHello,
  curl,
  generateKeyFile,
  headerOf,
  type Issued,
  type Mitmdump,
  type MitmRecord,
  makeCa,
  makeLeaf,
  makeTempDir,
  openssl,
  opensslPinOfCertificate,
  opensslPinOfPublicKey,
  type RunningServer,
  runCli,
  startHttpsServer,
  startMitmdump,
} from "@keypin/testkit";

interface CertJson {
  subject: string;
  issuer: string;
  role: string;
  pin: string;
}
interface InspectJson {
  host: string;
  port: number;
  servername: string;
  trusted: boolean;
  chain: CertJson[];
  verifiedChain: CertJson[];
}
interface CheckJson {
  ok: boolean;
  hosts: { host: string; status: string; enforced: boolean; matchedPin?: string; servedPins: string[] }[];
}

const HOST = "api.example.test";
const tmp = makeTempDir("keypin-cli-mitmproxy-");
const confdir = join(tmp.dir, "mitmproxy-conf");
let root: Issued;
let intermediate: Issued;
let leaf: Issued;
let backend: RunningServer;
let policyPath: string;
let bundlePath: string;
let mitm: Mitmdump | undefined;
let mitmCaPin: string;

/**
 * mitmproxy cannot resolve the made-up name: like curl, the CLI tunnels to 127.0.0.1 and keeps the name for TLS
 * (any port: `check` connects to the policy's domain on 443).
 */
const route = () => ["--connect-to", `${HOST}::127.0.0.1:${backend.port}`];
const target = () => `${HOST}:${backend.port}`;
/** The device's trust: mitmproxy's CA installed next to the backend's root. */
const deviceCas = () => ["--ca", mitm!.caPath, "--ca", root.certPath];

function parseJson<T>(stdout: string, what: string): T {
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new Error(`${what} did not print one JSON document:\n${stdout}`);
  }
}

before(async () => {
  root = makeCa(tmp.dir, "root", "/O=Keypin Interop/CN=Backend Root");
  intermediate = makeCa(tmp.dir, "intermediate", "/O=Keypin Interop/CN=Backend Issuing CA", { issuer: root });
  leaf = makeLeaf(tmp.dir, "leaf", [HOST], intermediate);
  backend = await startHttpsServer({
    key: leaf.key,
    cert: `${leaf.cert}${intermediate.cert}`,
    handler: answerHello,
  });
  const backupKey = generateKeyFile(join(tmp.dir, "backup.key"), "ec-p256");
  policyPath = join(tmp.dir, "keypin.json");
  writeFileSync(
    policyPath,
    JSON.stringify({
      domains: {
        [HOST]: {
          pins: [
            { pin: opensslPinOfCertificate(leaf.cert), role: "leaf" },
            { pin: opensslPinOfCertificate(intermediate.cert), role: "intermediate" },
            { pin: opensslPinOfPublicKey(openssl(["pkey", "-in", backupKey, "-pubout"])), role: "backup" },
          ],
        },
      },
    }),
  );
  mitm = await startMitmdump({ confdir, upstreamCaPath: root.certPath, dir: tmp.dir });
  // The oracle: openssl's pin of the CA mitmproxy generated.
  mitmCaPin = opensslPinOfCertificate(mitm.caPem);
  bundlePath = join(tmp.dir, "device-trust.pem");
  writeFileSync(bundlePath, `${mitm.caPem}${root.cert}`);
});

after(async () => {
  await mitm?.stop();
  await backend?.close();
  tmp.remove();
});

describe("keypin inspect through the real mitmproxy", () => {
  test("direct, it shows the backend's own leaf and intermediate", async () => {
    const run = await runCli(["inspect", target(), ...route(), ...deviceCas(), "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const out = parseJson<InspectJson>(run.stdout, "inspect");
    assert.equal(out.trusted, true);
    assert.deepEqual(
      out.verifiedChain.map((c) => c.pin),
      [
        opensslPinOfCertificate(leaf.cert),
        opensslPinOfCertificate(intermediate.cert),
        opensslPinOfCertificate(root.cert),
      ],
    );
  });

  test("through mitmproxy, a device trusting its CA accepts a forged leaf that carries the CA's own key", async () => {
    const run = await runCli([
      "inspect",
      target(),
      ...route(),
      "--proxy",
      mitm!.url,
      ...deviceCas(),
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const out = parseJson<InspectJson>(run.stdout, "inspect");
    assert.equal(out.servername, HOST);
    // The unpinned view: ordinary validation trusts the forgery.
    assert.equal(out.trusted, true);
    const [forged, ca, ...rest] = out.verifiedChain;
    assert.ok(forged && ca, "a leaf and mitmproxy's CA");
    assert.deepEqual(rest, []);
    assert.equal(forged.role, "leaf");
    assert.match(forged.issuer, /mitmproxy/);
    assert.match(ca.subject, /mitmproxy/);
    // mitmproxy signs every forged leaf with its CA's key: one pin for both, the one openssl reads from its CA file.
    assert.equal(forged.pin, ca.pin);
    assert.equal(ca.pin, mitmCaPin);
    assert.equal(out.chain[0]?.pin, mitmCaPin, "the served leaf is the forgery");
    assert.notEqual(forged.pin, opensslPinOfCertificate(leaf.cert));
  });
});

describe("keypin check through the real mitmproxy", () => {
  test("passes direct, naming the backend's leaf pin", async () => {
    const run = await runCli(["check", "--policy", policyPath, ...route(), ...deviceCas(), "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const out = parseJson<CheckJson>(run.stdout, "check");
    assert.equal(out.ok, true);
    assert.equal(out.hosts.length, 1);
    assert.equal(out.hosts[0]?.status, "ok");
    assert.equal(out.hosts[0]?.matchedPin, opensslPinOfCertificate(leaf.cert));
  });

  test("exits 1 with pin-mismatch through mitmproxy, listing mitmproxy's key as served", async () => {
    const run = await runCli([
      "check",
      "--policy",
      policyPath,
      ...route(),
      "--proxy",
      mitm!.url,
      ...deviceCas(),
      "--json",
    ]);
    assert.equal(run.code, 1, run.stderr);
    const out = parseJson<CheckJson>(run.stdout, "check");
    assert.equal(out.ok, false);
    assert.equal(out.hosts.length, 1);
    const host = out.hosts[0]!;
    assert.equal(host.host, HOST);
    assert.equal(host.status, "pin-mismatch");
    assert.equal(host.enforced, true);
    assert.equal(host.matchedPin, undefined);
    assert.ok(host.servedPins.includes(mitmCaPin), `served pins ${host.servedPins.join(", ")}`);
    assert.ok(!host.servedPins.includes(opensslPinOfCertificate(leaf.cert)));
  });
});

describe("curl through the real mitmproxy (outside control)", () => {
  test("unpinned curl trusting mitmproxy's CA leaks its token; curl --pinnedpubkey with the backend's pin refuses and leaks nothing", async () => {
    const own = await startMitmdump({ confdir, upstreamCaPath: root.certPath, dir: tmp.dir });
    const leaked = "Bearer kp-cli-interop-unpinned";
    const kept = "Bearer kp-cli-interop-pinned";
    const route = [
      "--cacert",
      bundlePath,
      "--connect-to",
      `${HOST}:${backend.port}:127.0.0.1:${backend.port}`,
    ];
    const common = ["--noproxy", "", "--proxy", own.url, ...route];
    // curl's own syntax is sha256//<base64>: with one slash it reads a file path and fails whatever the key.
    const pin = ["--pinnedpubkey", opensslPinOfCertificate(leaf.cert).replace("sha256/", "sha256//")];
    // The control: the same pinned curl straight to the backend gets through, so the pin is right.
    const direct = await curl(["--noproxy", "*", ...route, ...pin, `https://${target()}/direct`]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(direct.stdout, "hello\n");
    let record: MitmRecord;
    let unpinned: Awaited<ReturnType<typeof curl>>;
    let pinned: Awaited<ReturnType<typeof curl>>;
    try {
      unpinned = await curl([...common, "-H", `authorization: ${leaked}`, `https://${target()}/unpinned`]);
      pinned = await curl([...common, ...pin, "-H", `authorization: ${kept}`, `https://${target()}/pinned`]);
    } finally {
      record = await own.stop();
    }
    assert.equal(unpinned.code, 0, unpinned.stderr);
    assert.equal(unpinned.stdout, "hello\n");
    assert.equal(pinned.code, 90, `curl: SSL public key does not match pinned public key\n${pinned.stderr}`);
    assert.deepEqual(
      record.requests.map((r) => [r.path, headerOf(r, "authorization")]),
      [["/unpinned", leaked]],
    );
    assert.equal(record.contains(kept), false);
    assert.equal(record.contains("/pinned"), false);
  });
});
