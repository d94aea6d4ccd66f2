// Bounded work, name constraints (outside review): what name-constraint matching costs must follow the issuers whose
// signatures are genuine, name by name, not (names x constraints x every served certificate). Chains made with the
// openssl CLI, each accepted by OpenSSL (the unpinned control completes the handshake). The work is read from the
// search's own budget of names, never from a clock.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { decodePem, type NameCheckBudget } from "@keypin/core";
import { pinnedTlsOptions, searchVerifiedPath } from "@keypin/node";
import { openssl, opensslPinOfCertificateFile, unrelatedPin } from "@keypin/testkit";

const HOST = "pinned.keypin.test";
const NAMES = 3000; // the leaf's DNS names
const CONSTRAINTS = 340; // excluded DNS subtrees per constrained CA: 3,001 x 340 stays under OpenSSL's 2^20
let dir = "";
const run = (...args: string[]) => openssl(args, undefined, { cwd: dir });
const read = (file: string) => readFileSync(join(dir, file), "utf8");
const ders = (pem: string) => decodePem(pem).map((block) => block.der);

function key(name: string): void {
  run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`);
}
function selfSigned(name: string, subject: string, ...ext: string[]): void {
  key(name);
  run(
    "req",
    "-x509",
    "-new",
    "-key",
    `${name}.key`,
    "-subj",
    `/CN=${subject}`,
    "-days",
    "30",
    "-out",
    `${name}.pem`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    ...ext.flatMap((e) => ["-addext", e]),
  );
}
function issued(name: string, subject: string, issuer: string, extLines: string[]): void {
  key(name);
  run("req", "-new", "-key", `${name}.key`, "-subj", `/CN=${subject}`, "-out", `${name}.csr`);
  writeFileSync(join(dir, `${name}.ext`), `${extLines.join("\n")}\n`);
  run(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${issuer}.pem`,
    "-CAkey",
    `${issuer}.key`,
    "-set_serial",
    String(Math.floor(Math.random() * 1e12)),
    "-days",
    "30",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.pem`,
  );
}
const excludedOf = (count: number) =>
  `nameConstraints=${Array.from({ length: count }, (_, i) => `excluded;DNS:.x${i}`).join(",")}`;
const excluded = excludedOf(CONSTRAINTS);
const CA = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"];
const leafOf = (names: number) => [
  "basicConstraints=CA:FALSE",
  "extendedKeyUsage=serverAuth",
  "subjectAltName=@alt",
  "[alt]",
  `DNS.1=${HOST}`,
  ...Array.from({ length: names - 1 }, (_, i) => `DNS.${i + 2}=a${i}.t`),
];
const LEAF = leafOf(NAMES);

/** root -> I<count> -> … -> I1 -> leaf, every intermediate constrained; returns the served chain (leaf first). */
function constrainedChain(prefix: string, count: number, names = NAMES, constraints = CONSTRAINTS): string {
  selfSigned(`${prefix}-root`, `${prefix} root`);
  let issuer = `${prefix}-root`;
  for (let k = count; k >= 1; k--) {
    issued(`${prefix}-i${k}`, `${prefix} inter ${k}`, issuer, [...CA, excludedOf(constraints)]);
    issuer = `${prefix}-i${k}`;
  }
  issued(`${prefix}-leaf`, HOST, `${prefix}-i1`, leafOf(names));
  return (
    read(`${prefix}-leaf.pem`) +
    Array.from({ length: count }, (_, k) => read(`${prefix}-i${k + 1}.pem`)).join("")
  );
}

async function serve(keyFile: string, chain: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = tls.createServer({ key: read(keyFile), cert: chain }, (socket) => {
    socket.on("error", () => {});
    socket.end();
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function handshake(port: number, options: tls.ConnectionOptions): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({ ...options, host: "127.0.0.1", port, servername: HOST });
    socket.once("secureConnect", () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once("error", (error) => resolve(error));
  });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keypin-nc-work-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("name-constraint work", () => {
  test("decoys that never verify cost no name checks (14 constrained look-alikes of the root)", async () => {
    // The root carries a Netscape certificate type: OpenSSL accepts it, keypin refuses it, so the search goes on to
    // the served look-alikes "CN=decoy root" (same name as the root), each with 340 constraints, chained to the root.
    selfSigned("d-root", "decoy root", "nsCertType=sslCA");
    issued("d-inter", "decoy inter", "d-root", [...CA, "authorityKeyIdentifier=none"]);
    let issuer = "d-root";
    for (let k = 14; k >= 1; k--) {
      issued(`d-fake${k}`, "decoy root", issuer, [...CA, excluded]);
      issuer = `d-fake${k}`;
    }
    issued("d-leaf", HOST, "d-inter", LEAF);
    const served =
      read("d-leaf.pem") +
      read("d-inter.pem") +
      Array.from({ length: 14 }, (_, k) => read(`d-fake${k + 1}.pem`)).join("");

    const server = await serve("d-leaf.key", served);
    try {
      assert.equal(
        await handshake(server.port, { ca: read("d-root.pem") }),
        undefined,
        "OpenSSL accepts the chain",
      );
      const budget: NameCheckBudget = { left: 32_768 };
      const search = searchVerifiedPath(ders(served), ders(read("d-root.pem")), { nameChecks: budget });
      assert.equal(search.found, false);
      assert.equal(
        search.found === false && search.reason,
        "rules",
        "the root's rule is what stops the path",
      );
      assert.equal(32_768 - budget.left, 0, "no name was matched for a decoy whose signature fails");
      const options = pinnedTlsOptions({
        policy: {
          domains: {
            [HOST]: { pins: [opensslPinOfCertificateFile(join(dir, "d-inter.pem")), unrelatedPin()] },
          },
        },
        ca: read("d-root.pem"),
      });
      const error = (await handshake(server.port, options)) as (Error & { code?: string }) | undefined;
      assert.equal(error?.code, "ERR_KEYPIN_UNTRUSTED_CHAIN");
    } finally {
      await server.close();
    }
  });

  test("four constrained intermediates: pinned, one name check per name per constrained issuer", async () => {
    const served = constrainedChain("c4", 4);
    const server = await serve("c4-leaf.key", served);
    try {
      assert.equal(
        await handshake(server.port, { ca: read("c4-root.pem") }),
        undefined,
        "OpenSSL accepts the chain",
      );
      const budget: NameCheckBudget = { left: 32_768 };
      const search = searchVerifiedPath(ders(served), ders(read("c4-root.pem")), { nameChecks: budget });
      assert.equal(search.found, true);
      assert.equal(
        32_768 - budget.left,
        4 * NAMES,
        "the leaf's names, once under each constrained intermediate",
      );
      const pin = opensslPinOfCertificateFile(join(dir, "c4-i1.pem"));
      const pinned = pinnedTlsOptions({
        policy: { domains: { [HOST]: { pins: [pin, unrelatedPin()] } } },
        ca: read("c4-root.pem"),
      });
      assert.equal(await handshake(server.port, pinned), undefined);
      const wrong = pinnedTlsOptions({
        policy: { domains: { [HOST]: { pins: [unrelatedPin(), unrelatedPin()] } } },
        ca: read("c4-root.pem"),
      });
      assert.equal(
        ((await handshake(server.port, wrong)) as { code?: string } | undefined)?.code,
        "ERR_KEYPIN_PIN_MISMATCH",
      );
    } finally {
      await server.close();
    }
  });

  test("past the search's 32,768 name checks the pinned client stops and refuses (8 intermediates over 5,000 names)", async () => {
    const served = constrainedChain("c8", 8, 5000, 100);
    const server = await serve("c8-leaf.key", served);
    try {
      assert.equal(
        await handshake(server.port, { ca: read("c8-root.pem") }),
        undefined,
        "OpenSSL accepts the chain",
      );
      const search = searchVerifiedPath(ders(served), ders(read("c8-root.pem")));
      assert.equal(search.found === false && search.reason, "budget");
      const pin = opensslPinOfCertificateFile(join(dir, "c8-i1.pem"));
      const options = pinnedTlsOptions({
        policy: { domains: { [HOST]: { pins: [pin, unrelatedPin()] } } },
        ca: read("c8-root.pem"),
      });
      const error = (await handshake(server.port, options)) as
        | (Error & { code?: string; reason?: string })
        | undefined;
      assert.equal(error?.code, "ERR_KEYPIN_UNTRUSTED_CHAIN");
    } finally {
      await server.close();
    }
  });
});
