// The pin checker remembers the last served chain per host name (a memcmp instead of a new path search); a forging
// peer that serves a large leaf for every name a client connects to must not make that memory grow past its budget.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { openssl, unrelatedPin } from "@keypin/testkit";
import { PinChecker } from "../src/pin-checker.js";

const HOSTS = Array.from({ length: 80 }, (_, i) => `s${i}.recent.test`);
const FILLER = 5000; // extra SANs: a ~60 KB leaf
let dir = "";
let server: tls.Server;
let port = 0;
let ca = "";

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "keypin-recent-"));
  const run = (...args: string[]) => openssl(args, undefined, { cwd: dir });
  run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key");
  run(
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=Forging CA",
    "-days",
    "3",
    "-out",
    "ca.pem",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  );
  run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.key");
  run("req", "-new", "-key", "leaf.key", "-subj", "/CN=s0.recent.test", "-out", "leaf.csr");
  const names = [...HOSTS, ...Array.from({ length: FILLER }, (_, i) => `f${i}.filler.test`)];
  writeFileSync(
    join(dir, "leaf.ext"),
    [
      "basicConstraints=CA:FALSE",
      "subjectAltName=@alt",
      "[alt]",
      ...names.map((n, i) => `DNS.${i + 1}=${n}`),
      "",
    ].join("\n"),
  );
  run(
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-set_serial",
    "7",
    "-days",
    "3",
    "-extfile",
    "leaf.ext",
    "-out",
    "leaf.pem",
  );
  ca = readFileSync(join(dir, "ca.pem"), "utf8");
  server = tls.createServer(
    { key: readFileSync(join(dir, "leaf.key"), "utf8"), cert: readFileSync(join(dir, "leaf.pem"), "utf8") },
    (socket) => {
      socket.on("error", () => {});
      socket.end();
    },
  );
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function handshake(
  checker: PinChecker,
  servername: string,
): Promise<(Error & { code?: string }) | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({ ...checker.tlsOptions(), host: "127.0.0.1", port, servername });
    socket.once("secureConnect", () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once("error", resolve);
  });
}

describe("the last chain per host", () => {
  test("stays within its byte budget when a large leaf is served for 80 names", async () => {
    const der = readFileSync(join(dir, "leaf.pem"), "utf8");
    assert.ok(der.length > 60_000, "the leaf is large");
    const domains = Object.fromEntries(
      HOSTS.map((host) => [host, { pins: [unrelatedPin(), unrelatedPin()] }]),
    );
    const checker = new PinChecker({ policy: { domains }, ca, caOnly: true, onWarning: () => {} });
    for (const host of HOSTS) {
      const error = await handshake(checker, host);
      assert.equal(error?.code, "ERR_KEYPIN_PIN_MISMATCH", host);
      const held = checker.recentChainsHeld();
      assert.ok(held.bytes <= held.maxBytes, `${held.bytes} > ${held.maxBytes}`);
    }
    const held = checker.recentChainsHeld();
    assert.ok(held.maxBytes <= 4 * 1024 * 1024);
    assert.ok(held.entries < HOSTS.length, `older chains were let go (${held.entries} held)`);
    assert.ok(held.entries > 0);
  });
});
