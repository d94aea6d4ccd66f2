// inspectTls learns everything from one handshake per host and reuses its trust set-up between calls:
// what it reports must be what the former two-handshake approach reported (Node's own linking, with an empty
// store as the oracle), and a shared secure context must never share trust or sessions between configurations.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { connect, createSecureContext, type DetailedPeerCertificate } from "node:tls";
import { inspectTls } from "@keypin/node";
import {
  createChain,
  issue,
  issueLeaf,
  startHttpsServer,
  type TestCert,
  type TestChain,
  type TestServer,
} from "@keypin/testkit";

let chain: TestChain;
let other: TestChain;
let stray: TestCert;
let crossRoot: TestCert;
let ipLeaf: TestCert;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  chain = await createChain("p256", ["api.keypin.test"]);
  other = await createChain("p256", ["api.keypin.test"], "other");
  stray = await issue("p256", { subject: "CN=unrelated CA, O=keypin tests", ca: true });
  // The root's key and name, signed by another root (as ISRG Root X1 was by DST Root CA X3).
  const oldRoot = await issue("p256", { subject: "CN=old root, O=keypin tests", ca: true });
  crossRoot = await issue("p256", {
    subject: chain.root.subject,
    key: chain.root,
    issuer: oldRoot,
    ca: true,
  });
  ipLeaf = await issueLeaf("p256", ["127.0.0.1"], chain.intermediate);
});
after(async () => {
  for (const close of closers) await close();
});

async function serve(certs: TestCert[], key = chain.leaf.keyPem): Promise<TestServer> {
  const server = await startHttpsServer({ key, cert: certs.map((c) => c.pem).join("") });
  closers.push(server.close);
  return server;
}

/** What the server sent, as Node links it when its store is empty (the second handshake keypin used to make). */
function linkedByNode(port: number, servername: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      servername,
      secureContext: createSecureContext({ ca: [] }),
      // Test oracle only: the chain is compared, never trusted, and no data is sent.
      rejectUnauthorized: false,
    });
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      const out: Buffer[] = [];
      const seen = new Set<string>();
      let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      while (cert?.raw && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        out.push(cert.raw);
        cert = cert.issuerCertificate;
      }
      socket.destroy();
      resolve(out);
    });
  });
}

const local = { host: "api.keypin.test", connectHost: "127.0.0.1" };
const bytes = (certs: readonly { der: Uint8Array }[] | undefined) => certs?.map((c) => Buffer.from(c.der));

describe("inspectTls with one handshake", () => {
  const cases: { name: string; sent: () => TestCert[]; served: () => TestCert[]; nodeStopsEarly?: true }[] = [
    {
      name: "leaf and intermediate (Node adds the trusted root)",
      sent: () => [chain.leaf, chain.intermediate],
      served: () => [chain.leaf, chain.intermediate],
    },
    {
      name: "leaf, intermediate and root",
      sent: () => [chain.leaf, chain.intermediate, chain.root],
      served: () => [chain.leaf, chain.intermediate, chain.root],
    },
    {
      name: "the root sent before the intermediate",
      sent: () => [chain.leaf, chain.root, chain.intermediate],
      served: () => [chain.leaf, chain.intermediate, chain.root],
      // Node 20 stops linking when the issuer it found was the last candidate left, so it shows no root here.
      nodeStopsEarly: true,
    },
    {
      name: "an unrelated CA between leaf and intermediate",
      sent: () => [chain.leaf, stray, chain.intermediate],
      served: () => [chain.leaf, chain.intermediate],
    },
    {
      name: "the root cross-signed by an older root",
      sent: () => [chain.leaf, chain.intermediate, crossRoot],
      served: () => [chain.leaf, chain.intermediate, crossRoot],
    },
    {
      name: "the intermediate sent twice",
      sent: () => [chain.leaf, chain.intermediate, chain.intermediate],
      served: () => [chain.leaf, chain.intermediate],
    },
    { name: "the leaf alone", sent: () => [chain.leaf], served: () => [chain.leaf] },
  ];
  for (const c of cases) {
    test(`reports the chain Node links from what was sent, in one connection: ${c.name}`, async () => {
      const server = await serve(c.sent());
      const oracle = await linkedByNode(server.port, local.host);
      const before = server.connections;
      const seen = await inspectTls({ ...local, port: server.port, ca: [chain.root.pem] });
      assert.equal(server.connections - before, 1, "one TCP connection per inspection");
      if (c.nodeStopsEarly) {
        assert.deepEqual(bytes(seen.served)?.slice(0, oracle.length), oracle, "Node's links come first");
      } else {
        assert.deepEqual(bytes(seen.served), oracle, "served is what Node links with an empty store");
      }
      assert.deepEqual(
        bytes(seen.served),
        c.served().map((cert) => Buffer.from(cert.der)),
      );
      const complete = c.sent().includes(chain.intermediate);
      assert.equal(seen.trusted, complete);
      assert.deepEqual(
        bytes(seen.verified),
        complete
          ? [chain.leaf, chain.intermediate, chain.root].map((cert) => Buffer.from(cert.der))
          : undefined,
      );
    });
  }

  test("a self-signed leaf trusted through ca is served and verified alone", async () => {
    const self = await issue("p256", { subject: "CN=api.keypin.test", dns: ["api.keypin.test"] });
    const server = await serve([self], self.keyPem);
    const seen = await inspectTls({ ...local, port: server.port, ca: [self.pem] });
    assert.deepEqual(bytes(seen.served), [Buffer.from(self.der)]);
    assert.deepEqual(bytes(seen.verified), [Buffer.from(self.der)]);
    assert.equal(seen.trusted, true);
  });

  test("never carries trust from one ca configuration to another", async () => {
    const server = await serve([chain.leaf, chain.intermediate]);
    const port = server.port;
    const trusted = await inspectTls({ ...local, port, ca: [chain.root.pem] });
    assert.equal(trusted.trusted, true);
    const otherOnly = await inspectTls({ ...local, port, ca: [other.root.pem], caOnly: true });
    assert.equal(otherOnly.trusted, false);
    assert.equal(otherOnly.verified, undefined);
    assert.equal(otherOnly.authorizationError, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    const defaults = await inspectTls({ ...local, port });
    assert.equal(defaults.trusted, false);
    assert.equal(defaults.verified, undefined);
    const rootOnly = await inspectTls({ ...local, port, ca: [chain.root.pem], caOnly: true });
    assert.equal(rootOnly.trusted, true);
    const again = await inspectTls({ ...local, port, ca: [chain.root.pem] });
    assert.equal(again.trusted, true);
    assert.deepEqual(bytes(again.verified), bytes(trusted.verified));
  });

  // TLS 1.2: a server that caches sessions by ID finishes its side of the handshake before the client (so every
  // connection is counted) and says whether it resumed one.
  {
    const maxVersion = "TLSv1.2";
    test("makes a full handshake every time, never resuming a session the server offered", async () => {
      const server = await startHttpsServer({
        key: chain.leaf.keyPem,
        cert: chain.leaf.pem + chain.intermediate.pem,
        maxVersion,
      });
      closers.push(server.close);
      const { port } = server;
      for (let i = 0; i < 3; i++) {
        const seen = await inspectTls({ ...local, port, ca: [chain.root.pem] });
        assert.equal(seen.trusted, true);
        assert.equal(seen.protocol, maxVersion);
        assert.equal(seen.served.length, 2);
      }
      while (server.handshakes + server.resumptions < 3) await once(server.server, "secureConnection");
      assert.deepEqual(
        [server.handshakes, server.resumptions],
        [3, 0],
        "three full handshakes, no resumption",
      );
    });
  }

  test("checks the host name against the leaf, for names and IP addresses alike", async () => {
    const named = await serve([chain.leaf, chain.intermediate]);
    const byIp = await inspectTls({ host: "127.0.0.1", port: named.port, ca: [chain.root.pem] });
    assert.equal(byIp.servername, "");
    assert.match(byIp.hostnameError ?? "", /IP: 127\.0\.0\.1 is not in the cert's list/);
    assert.equal(byIp.authorizationError, undefined, "OpenSSL accepted the chain");
    assert.equal(byIp.trusted, false);
    const wrongName = await inspectTls({
      ...local,
      host: "www.keypin.test",
      port: named.port,
      ca: [chain.root.pem],
    });
    assert.match(wrongName.hostnameError ?? "", /www\.keypin\.test/);
    const ip = await serve([ipLeaf, chain.intermediate], ipLeaf.keyPem);
    const ipOk = await inspectTls({ host: "127.0.0.1", port: ip.port, ca: [chain.root.pem] });
    assert.equal(ipOk.hostnameError, undefined);
    assert.equal(ipOk.trusted, true);
    // OpenSSL rejects the chain here, so Node never described the leaf: inspectTls asks for it itself.
    const untrusted = await inspectTls({ ...local, host: "www.keypin.test", port: named.port });
    assert.equal(untrusted.authorizationError, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    assert.match(untrusted.hostnameError ?? "", /www\.keypin\.test/);
  });
});
