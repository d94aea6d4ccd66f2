// Chains signed with the slower curves OpenSSL accepts (brainpool, secp256k1) are pinned like any other: the right
// pin connects, a wrong one is refused, as an unpinned client connects. Before, each such key counted as a curve
// too costly to verify and no brainpool chain could ever be pinned (outside review).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { decodePem } from "@keypin/core";
import { createPinnedDispatcher, searchVerifiedPath } from "@keypin/node";
import {
  keypinCodeOf,
  lookupLocal,
  openssl,
  opensslPinOfCertificateFile,
  policyOf,
  rejectionOf,
  startHttpsServer,
  unrelatedPin,
} from "@keypin/testkit";
import { Agent, fetch } from "undici";

const HOST = "curves.keypin.test";
const CURVES = ["brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1", "secp256k1"];
let dir = "";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keypin-curves-"));
  writeFileSync(
    join(dir, "ca.ext"),
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
  );
  writeFileSync(join(dir, "leaf.ext"), `basicConstraints=CA:FALSE\nsubjectAltName=DNS:${HOST}\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** root and intermediate keys on `curve`, a P-256 leaf (what the server's handshake signs with), all by openssl. */
function chainOn(curve: string): {
  files: { key: string; cert: string; ca: string };
  root: string;
  served: string;
  key: string;
  intermediatePin: string;
} {
  const run = (...args: string[]) => openssl(args, undefined, { cwd: dir });
  const key = (name: string, c: string) =>
    run("genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${c}`, "-out", name);
  key(`${curve}-root.key`, curve);
  run(
    "req",
    "-x509",
    "-new",
    "-key",
    `${curve}-root.key`,
    "-subj",
    `/CN=${curve} root`,
    "-days",
    "30",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
    "-out",
    `${curve}-root.pem`,
  );
  for (const [name, issuer, ext, c] of [
    ["inter", "root", "ca.ext", curve],
    ["leaf", "inter", "leaf.ext", "P-256"],
  ] as const) {
    key(`${curve}-${name}.key`, c);
    run(
      "req",
      "-new",
      "-key",
      `${curve}-${name}.key`,
      "-subj",
      `/CN=${curve} ${name}`,
      "-out",
      `${curve}-${name}.csr`,
    );
    run(
      "x509",
      "-req",
      "-in",
      `${curve}-${name}.csr`,
      "-CA",
      `${curve}-${issuer}.pem`,
      "-CAkey",
      `${curve}-${issuer}.key`,
      "-set_serial",
      String(Date.now()),
      "-days",
      "30",
      "-extfile",
      ext,
      "-out",
      `${curve}-${name}.pem`,
    );
  }
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return {
    files: {
      key: join(dir, `${curve}-leaf.key`),
      cert: join(dir, `${curve}-leaf.pem`),
      ca: join(dir, `${curve}-root.pem`),
    },
    root: read(`${curve}-root.pem`),
    served: read(`${curve}-leaf.pem`) + read(`${curve}-inter.pem`),
    key: read(`${curve}-leaf.key`),
    intermediatePin: opensslPinOfCertificateFile(join(dir, `${curve}-inter.pem`)),
  };
}

/** An unpinned TLS handshake with the chain, in plain Node: prints "connected". argv: key file, served PEM, root file. */
const PROBE = `
const tls = require("node:tls"), fs = require("node:fs");
const [key, served, ca] = process.argv.slice(1);
const server = tls.createServer({ key: fs.readFileSync(key), cert: served }, (s) => s.end());
server.listen(0, "127.0.0.1", () => {
  const c = tls.connect({ port: server.address().port, host: "127.0.0.1", servername: "${HOST}", ca: fs.readFileSync(ca) }, () => {
    console.log("connected"); c.destroy(); server.close();
  });
  c.on("error", (e) => { console.log("error " + e.message); server.close(); });
});`;

describe("chains on slower curves", () => {
  for (const curve of CURVES) {
    test(`${curve}: the right pin connects, a wrong one is refused`, async (t) => {
      const chain = chainOn(curve);
      // keypin's own part, in this process: the path is found within the search's budget.
      const ders = (pem: string) => decodePem(pem).map((b) => b.der);
      const search = searchVerifiedPath(ders(chain.served), ders(chain.root));
      assert.equal(search.found, true, JSON.stringify(search));
      // Some Node builds crash (SIGSEGV) on any TLS handshake over such a chain, keypin or not (Node 24.9.0 with
      // OpenSSL 3.5.3 does, for secp256k1 and brainpool): an unpinned handshake in a child process tells.
      const probe = spawnSync(
        process.execPath,
        ["-e", PROBE, chain.files.key, chain.served, chain.files.ca],
        {
          encoding: "utf8",
          timeout: 20_000,
        },
      );
      if (probe.signal !== null) {
        t.diagnostic(
          `Node ${process.version} (OpenSSL ${process.versions.openssl}) crashes (${probe.signal}) on an unpinned TLS handshake over a ${curve} chain: no client can connect, pinned or not`,
        );
        return;
      }
      assert.equal(probe.stdout.trim(), "connected", probe.stderr);
      const server = await startHttpsServer({ key: chain.key, cert: chain.served });
      const url = `https://${HOST}:${server.port}/`;
      const connect = { lookup: lookupLocal, maxCachedSessions: 0 };
      try {
        const plain = new Agent({ connect: { ...connect, ca: chain.root } });
        const control = await fetch(url, { dispatcher: plain });
        assert.equal(control.status, 200, "an unpinned client trusting the root connects");
        await control.arrayBuffer();
        await plain.close();

        const right = createPinnedDispatcher({
          policy: policyOf({ [HOST]: [chain.intermediatePin, unrelatedPin()] }),
          ca: chain.root,
          connect,
        });
        const res = await fetch(url, { dispatcher: right });
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        await right.close();

        const wrong = createPinnedDispatcher({
          policy: policyOf({ [HOST]: [unrelatedPin(), unrelatedPin()] }),
          ca: chain.root,
          connect,
        });
        assert.equal(
          keypinCodeOf(await rejectionOf(fetch(url, { dispatcher: wrong }))),
          "ERR_KEYPIN_PIN_MISMATCH",
        );
        await wrong.close();
      } finally {
        await server.close();
      }
    });
  }
});
