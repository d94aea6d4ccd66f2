import assert from "node:assert/strict";
import { createServer } from "node:https";
import { describe, it } from "node:test";
import { connect as connectTls } from "node:tls";
import { type LabEvent, runLab } from "@keypin/lab";
import { listenLocal, startConnectProxy, trackSockets } from "@keypin/testkit";
import { requestProfile } from "../src/app.js";
import { type LabCast, startCast } from "../src/cast.js";
import type { LabCertificate } from "../src/certificates.js";
import { requestsOfAllScenarios } from "./scenario-expectations.js";

/** An NSS key log line (SSLKEYLOGFILE): label, the session's client random, a secret. */
const keylogLine =
  /^(CLIENT_RANDOM|CLIENT_HANDSHAKE_TRAFFIC_SECRET|SERVER_HANDSHAKE_TRAFFIC_SECRET|CLIENT_TRAFFIC_SECRET_0|SERVER_TRAFFIC_SECRET_0|EXPORTER_SECRET) ([0-9a-f]{64}) ([0-9a-f]{64,})$/;

function clientRandoms(lines: string[]): Set<string> {
  return new Set(lines.map((line) => keylogLine.exec(line)?.[2] ?? `unparsed: ${line}`));
}

/**
 * The independent side: an HTTPS server of the test's own, serving the backend's certificate, that keeps the key log
 * lines Node gives for ITS end of every session (the same secrets, if the app's lines are right).
 */
async function startKeylogServer(cast: LabCast, leaf: LabCertificate = cast.leaf) {
  const lines: string[] = [];
  const server = createServer(
    { key: leaf.key.privateKeyPem, cert: leaf.pem + cast.intermediate.pem },
    (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"id":"u_1"}'),
  );
  server.on("keylog", (line: Buffer) => lines.push(line.toString("latin1").trimEnd()));
  const close = trackSockets(server);
  const port = await listenLocal(server);
  return { lines, origin: `https://${cast.host}:${port}`, port, close };
}

function sorted(lines: string[]): string[] {
  return [...lines].sort();
}

describe("onKeylog: the app's TLS key log", () => {
  it("gives the app's lines of a direct session, equal to the ones the server logged for its end", async () => {
    const cast = await startCast();
    const server = await startKeylogServer(cast);
    try {
      const app: string[] = [];
      const result = await requestProfile(server.origin, cast.token, {
        policy: undefined,
        anchors: cast.device.pems(),
        lookup: cast.lookup,
        onKeylog: (line) => app.push(line),
      });
      assert.equal(result.kind, "response");
      assert.ok(app.length >= 5, `TLS 1.3 gives five lines per session, got ${app.length}`);
      for (const line of app) assert.match(line, keylogLine);
      assert.equal(clientRandoms(app).size, 1, "one session");
      assert.ok(
        app.some((line) => line.startsWith("CLIENT_TRAFFIC_SECRET_0 ")),
        "the application data secret",
      );
      assert.deepEqual(
        sorted(app),
        sorted(server.lines),
        "the app's lines are the server's, secret for secret",
      );
    } finally {
      await server.close();
      await cast.close();
    }
  });

  it("gives the lines of a session inside a proxy's CONNECT tunnel, and of a handshake the pins refused", async () => {
    const cast = await startCast();
    const server = await startKeylogServer(cast);
    const proxy = await startConnectProxy();
    try {
      const tunnelled: string[] = [];
      const ok = await requestProfile(server.origin, cast.token, {
        policy: undefined,
        anchors: cast.device.pems(),
        lookup: cast.lookup,
        proxy: proxy.url,
        onKeylog: (line) => tunnelled.push(line),
      });
      assert.equal(ok.kind, "response");
      assert.deepEqual(proxy.tunnels, [`${cast.host}:${server.port}`], "the session went through the tunnel");
      assert.equal(clientRandoms(tunnelled).size, 1);
      assert.deepEqual(sorted(tunnelled), sorted(server.lines));

      const before = server.lines.length;
      const refused: string[] = [];
      const mismatch = await requestProfile(server.origin, cast.token, {
        policy: { domains: { [cast.host]: { pins: [cast.pins.backup] } } },
        anchors: cast.device.pems(),
        lookup: cast.lookup,
        proxy: proxy.url,
        onKeylog: (line) => refused.push(line),
      });
      assert.equal(mismatch.kind, "pin-mismatch", "the app refused the server's key");
      const serverSide = server.lines.slice(before);
      assert.equal(clientRandoms(refused).size, 1, "the refused session is logged too");
      assert.ok(refused.some((line) => line.startsWith("CLIENT_HANDSHAKE_TRAFFIC_SECRET ")));
      // The server logs its handshake secrets before it sends its Finished, so long before the app refuses (its
      // application secrets may come after the app hung up): those two are on both sides, equal.
      for (const label of ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET"]) {
        const line = refused.find((l) => l.startsWith(`${label} `));
        assert.ok(line, `the app logged ${label}`);
        assert.ok(serverSide.includes(line), `the server logged the same ${label}`);
      }
    } finally {
      await proxy.close();
      await server.close();
      await cast.close();
    }
  });

  it("gives each app only its own sessions, never another socket's in the same process", async () => {
    const cast = await startCast();
    const server = await startKeylogServer(cast);
    try {
      const first: string[] = [];
      const second: string[] = [];
      // A TLS client that is not the app, connecting while the apps' sockets are watched.
      const outsider: string[] = [];
      const other = connectTls({
        host: "127.0.0.1",
        port: server.port,
        servername: cast.host,
        ca: cast.root.pem,
      });
      other.on("keylog", (line) => outsider.push(line.toString("latin1").trimEnd()));
      other.on("error", () => {});
      const config = { policy: undefined, anchors: cast.device.pems(), lookup: cast.lookup };
      const [a, b] = await Promise.all([
        requestProfile(server.origin, cast.token, { ...config, onKeylog: (line) => first.push(line) }),
        requestProfile(server.origin, cast.token, { ...config, onKeylog: (line) => second.push(line) }),
      ]);
      other.destroy();
      assert.equal(a.kind, "response");
      assert.equal(b.kind, "response");
      const [ra, rb, ro] = [clientRandoms(first), clientRandoms(second), clientRandoms(outsider)];
      assert.equal(ra.size, 1);
      assert.equal(rb.size, 1);
      assert.notDeepEqual([...ra], [...rb], "two sessions, two client randoms");
      for (const random of ro)
        assert.ok(!ra.has(random) && !rb.has(random), "the outsider's session is not the app's");
    } finally {
      await server.close();
      await cast.close();
    }
  });

  it("in a whole lab run, gives one session per app request (refused handshakes included) and no private key", async () => {
    const lines: string[] = [];
    const events: LabEvent[] = [];
    const summary = await runLab({
      onEvent: (event) => events.push(event),
      onKeylog: (line) => lines.push(line),
    });
    assert.equal(summary.ok, true);
    for (const line of lines) assert.match(line, keylogLine);
    const requests = events.filter((e) => e.type === "step" && e.step === "request").length;
    assert.equal(requests, requestsOfAllScenarios().length, "one request per app of each scenario");
    const randoms = clientRandoms(lines);
    assert.equal(randoms.size, requests, "one TLS session per request, each logged");
    for (const random of randoms) {
      const labels = lines.filter((line) => line.includes(` ${random} `)).map((line) => line.split(" ")[0]);
      assert.ok(
        labels.includes("CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
        `session ${random.slice(0, 8)}… has its handshake secret`,
      );
    }
    assert.ok(!JSON.stringify(events).includes("PRIVATE KEY"), "no event carries a private key");
    assert.ok(!lines.some((line) => line.includes("PRIVATE")), "no key log line carries a private key");
  });
});
