// The collector's suite (issue 17), run against each store (collect.test.ts: SQLite; collect-postgres.test.ts:
// a real PostgreSQL server): ingest of every sender's report shape over a real socket, 400/413 for what a
// client gets wrong, dedupe of a flood into one group, classification from real generated chains, retention.
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Collector, openSqliteStore, type ReportStore, startCollector } from "@keypin/collect";
import { createPinnedDispatcher } from "@keypin/node";
import {
  createChain,
  issue,
  issueLeaf,
  lookupLocal,
  makeTempDir,
  policyOf,
  startForgingProxy,
  startHttpsServer,
  type TestChain,
  unrelatedPin,
} from "@keypin/testkit";
import { fetch, ProxyAgent } from "undici";
import {
  type ApiGroup,
  getJson,
  post,
  rfc7469Report,
  trustKitAndroidReport,
  trustKitIosReport,
} from "./helpers.js";

/** A store to run the suite on: `open(name)` opens (or reopens) the store called `name`. */
export interface Backend {
  name: "sqlite" | "postgres";
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
  open(name: string): Promise<ReportStore>;
}

/** The embedded backend: a SQLite file per name in a temporary directory. */
export function sqliteBackend(): Backend {
  const dir = makeTempDir("keypin-collect-sqlite-");
  return {
    name: "sqlite",
    open: (name) => openSqliteStore(join(dir.dir, `${name}.db`)),
    teardown: async () => dir.remove(),
  };
}

export function collectorSuite(backend: Backend): void {
  const HOST = "api.keypin.test";
  const temp = makeTempDir("keypin-collect-");
  let genuine: TestChain;
  let store: ReportStore;
  let collector: Collector;
  let base: string;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    genuine = await createChain("p256", [HOST], "genuine");
    await backend.setup?.();
    store = await backend.open("reports");
    // The root store of this test world: the genuine CA is "public", a proxy's CA is not.
    collector = await startCollector({ store, publicRoots: [genuine.root.pem] });
    base = collector.url.replace(/\/report$/, "");
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await collector.close();
    await store.close();
    await backend.teardown?.();
    temp.remove();
  });

  async function groupsOf(host?: string): Promise<ApiGroup[]> {
    const { status, json } = await getJson(
      `${base}/api/groups${host ? `?host=${encodeURIComponent(host)}` : ""}`,
    );
    assert.equal(status, 200);
    return json.groups;
  }

  async function waitForGroup(host: string, port: number): Promise<ApiGroup> {
    for (let i = 0; i < 500; i++) {
      const found = (await groupsOf(host)).find((g) => g.port === port);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.fail(`no group for ${host}:${port} arrived`);
  }

  describe("@keypin/node's reports, sent by a pinned client that fails", () => {
    test("a renewal with a new key under the same public CA: server-change, with the chain and pins", async () => {
      const renewed = await issueLeaf("p256", [HOST], genuine.intermediate);
      const server = await startHttpsServer({
        key: renewed.keyPem,
        cert: renewed.pem + genuine.intermediate.pem,
      });
      closers.push(server.close);
      const oldPins = [genuine.leaf.pin, unrelatedPin()];
      const dispatcher = createPinnedDispatcher({
        policy: policyOf({ [HOST]: { pins: oldPins, mode: "report-only", reportUris: [collector.url] } }),
        ca: [genuine.root.pem],
        connect: { lookup: lookupLocal, maxCachedSessions: 0 },
      });
      closers.push(() => dispatcher.close());
      const res = await fetch(`https://${HOST}:${server.port}/`, {
        dispatcher,
        headers: { connection: "close" },
      });
      assert.equal(res.status, 200, "report-only: the request went through");
      await res.arrayBuffer();
      const group = await waitForGroup(HOST, server.port);
      assert.equal(group.source, "keypin-node");
      assert.equal(group.count, 1);
      assert.equal(group.classification, "server-change", JSON.stringify(group.evidence));
      assert.match(group.evidence.join(" "), /public root CN=keypin test root genuine/);
      assert.deepEqual(
        group.knownPins,
        oldPins.map((p) => `pin-sha256="${p.slice(7)}"`),
      );
      assert.equal(group.chain[0]?.pin, renewed.pin.slice(7), "the dashboard's chain names the new leaf key");
      assert.ok(Date.parse(group.firstSeen) <= Date.parse(group.lastSeen));
    });

    test("an intercepting proxy whose CA the device trusts: interception, naming the proxy's CA", async () => {
      const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
      closers.push(server.close);
      const deviceCa = await issue("p256", { subject: "CN=Debugging Proxy CA", ca: true });
      const proxy = await startForgingProxy({ ca: deviceCa });
      closers.push(proxy.close);
      // Control: without pinning the forged chain is accepted and the request goes through the proxy.
      const unpinned = new ProxyAgent({
        uri: proxy.url,
        requestTls: { ca: [deviceCa.pem, genuine.root.pem] },
      });
      closers.push(() => unpinned.close());
      const control = await fetch(`https://${HOST}:${server.port}/`, { dispatcher: unpinned });
      assert.equal(control.status, 200);
      await control.arrayBuffer();

      const dispatcher = createPinnedDispatcher({
        policy: policyOf({
          [HOST]: { pins: [genuine.intermediate.pin, unrelatedPin()], reportUris: [collector.url] },
        }),
        ca: [deviceCa.pem, genuine.root.pem],
        proxy: proxy.url,
      });
      closers.push(() => dispatcher.close());
      await assert.rejects(fetch(`https://${HOST}:${server.port}/`, { dispatcher }));
      const group = await waitForGroup(HOST, server.port);
      assert.equal(group.classification, "interception", JSON.stringify(group.evidence));
      assert.match(String(group.evidence[0]), /CN=Debugging Proxy CA.*not a public root/);
    });
  });

  describe("TrustKit's and RFC 7469's report JSON", () => {
    test("iOS, Android and RFC 7469 reports are stored, each as its own source, and classified", async () => {
      const deviceCa = await issue("p256", { subject: "CN=Corporate Proxy CA", ca: true });
      const forgedIntermediate = await issue("p256", {
        subject: "CN=Corporate Proxy Intermediate",
        issuer: deviceCa,
        ca: true,
      });
      const forged: TestChain = {
        root: deviceCa,
        intermediate: forgedIntermediate,
        leaf: await issueLeaf("p256", ["ios.keypin.test"], forgedIntermediate),
        served: "",
      };
      const pins = [genuine.intermediate.pin, unrelatedPin()];
      const ios = await post(
        collector.url,
        JSON.stringify(trustKitIosReport(forged, "ios.keypin.test", 443, pins)),
      );
      assert.equal(ios.status, 201, JSON.stringify(ios.json));
      const renewedChain = await createChain("p256", ["android.keypin.test"], "android");
      const android = await post(
        collector.url,
        JSON.stringify(trustKitAndroidReport(renewedChain, "android.keypin.test", 8443, pins)),
      );
      assert.equal(android.status, 201, JSON.stringify(android.json));
      const rfcChain = await createChain("p256", ["rfc.keypin.test"], "rfc");
      const rfc = await post(
        collector.url,
        JSON.stringify(rfc7469Report(rfcChain, "rfc.keypin.test", 443, pins)),
      );
      assert.equal(rfc.status, 201, JSON.stringify(rfc.json));

      const iosGroup = (await groupsOf("ios.keypin.test"))[0] as ApiGroup;
      assert.equal(iosGroup.source, "trustkit-ios");
      assert.equal(iosGroup.classification, "interception");
      assert.match(String(iosGroup.evidence[0]), /CN=Corporate Proxy CA/);
      const androidGroup = (await groupsOf("android.keypin.test"))[0] as ApiGroup;
      assert.equal(androidGroup.source, "trustkit-android");
      assert.equal(androidGroup.port, 8443);
      assert.equal(androidGroup.servedChain.length, 2);
      const rfcGroup = (await groupsOf("rfc.keypin.test"))[0] as ApiGroup;
      assert.equal(rfcGroup.source, "rfc7469");
      assert.equal(rfcGroup.result, null);
    });

    test("a chain ending at a root outside the store is interception by default (Node's bundled roots)", async () => {
      const other = await startCollector({ store });
      closers.push(other.close);
      const chain = await createChain("p256", ["default.keypin.test"], "default-store");
      const answer = await post(
        other.url,
        JSON.stringify(trustKitAndroidReport(chain, "default.keypin.test", 443, [unrelatedPin()])),
      );
      assert.equal(answer.status, 201);
      assert.equal(
        answer.json.classification,
        "interception",
        "a generated root is not in tls.rootCertificates",
      );
      // The same report to the collector whose store holds this root: server-change. The store decides.
      const trusting = await startCollector({ store, publicRoots: [chain.root.pem] });
      closers.push(trusting.close);
      const again = await post(
        trusting.url,
        JSON.stringify(trustKitAndroidReport(chain, "default.keypin.test", 443, [unrelatedPin()])),
      );
      assert.equal(again.json.classification, "server-change");
    });

    test("misconfiguration: the report's own fields disagree, each with its evidence", async () => {
      const host = "misconf.keypin.test";
      const cases: [string, Record<string, unknown>, RegExp][] = [
        [
          "a known pin is in the validated chain, yet no pin matched",
          trustKitAndroidReport(genuine, host, 443, [genuine.intermediate.pin]),
          /known pin .* is in the validated chain, yet validation-result is 1/,
        ],
        [
          "the host is not the noted host",
          {
            ...trustKitAndroidReport(genuine, host, 444, [unrelatedPin()]),
            "noted-hostname": "other.example",
          },
          /is not other\.example and include-subdomains is false/,
        ],
        [
          "a failure report that says success",
          { ...trustKitAndroidReport(genuine, host, 445, [unrelatedPin()]), "validation-result": 0 },
          /validation-result is 0/,
        ],
        [
          "a validated chain that does not link",
          {
            ...trustKitAndroidReport(genuine, host, 446, [unrelatedPin()]),
            "validated-certificate-chain": [
              genuine.leaf.pem,
              (await createChain("p256", [host], "x")).intermediate.pem,
            ],
          },
          /validated-certificate-chain\[0\].*is not issued by \[1\]/,
        ],
        [
          "a pin that is not a pin",
          { ...trustKitAndroidReport(genuine, host, 447, []), "known-pins": ['pin-sha256="short"'] },
          /is not pin-sha256=/,
        ],
      ];
      for (const [name, report, evidence] of cases) {
        const answer = await post(collector.url, JSON.stringify(report));
        assert.equal(answer.status, 201, name);
        assert.equal(answer.json.classification, "misconfiguration", name);
        const group = (await groupsOf(host)).find((g) => g.id === answer.json.group);
        assert.match(String(group?.evidence.join("\n")), evidence, name);
      }
    });
  });

  describe("what a client gets wrong: 400 with the reason, 413 answered", () => {
    test("bad JSON, unknown shapes and wrong field types are 400s naming the problem; the collector goes on", async () => {
      const good = trustKitAndroidReport(genuine, HOST, 443, [unrelatedPin()]);
      const bad: [string, RegExp][] = [
        ["{not json", /not JSON/],
        ["", /not JSON/],
        ["[]", /unknown report shape: expected a JSON object, got array/],
        ["null", /got null/],
        ['"report"', /got string/],
        ["{}", /unknown report shape.*missing hostname, known-pins/],
        [JSON.stringify({ hostname: HOST, "known-pins": [] }), /neither "served-certificate-chain" nor/],
        [JSON.stringify({ ...good, hostname: 42 }), /"hostname" must be a string, got number/],
        [
          JSON.stringify({ ...good, hostname: "<img src=x onerror=alert(1)>" }),
          /"hostname" must be a host name/,
        ],
        [JSON.stringify({ ...good, "noted-hostname": "a b" }), /"noted-hostname" must be a host name/],
        [JSON.stringify({ ...good, port: "443" }), /"port" must be an integer from 0 to 65535, got string/],
        [JSON.stringify({ ...good, port: 70000 }), /"port" must be an integer/],
        [JSON.stringify({ ...good, port: 1.5 }), /"port" must be an integer/],
        [
          JSON.stringify({ ...good, "known-pins": "pin" }),
          /"known-pins" must be an array of strings, got string/,
        ],
        [JSON.stringify({ ...good, "known-pins": [1] }), /"known-pins\[0\]" must be a string, got number/],
        [
          JSON.stringify({ ...good, "served-certificate-chain": ["hello"] }),
          /"served-certificate-chain\[0\]" must be one PEM/,
        ],
        [JSON.stringify({ ...good, "validation-result": "1" }), /"validation-result" must be an integer/],
        [
          JSON.stringify({ ...good, "include-subdomains": "yes" }),
          /"include-subdomains" must be true or false/,
        ],
        [JSON.stringify({ ...good, "app-platform": 5 }), /"app-platform" must be a string/],
        [JSON.stringify({ ...good, app: [] }), /"app" must be an object/],
        [JSON.stringify({ ...good, "known-pins": Array(100).fill("x") }), /at most 64/],
        [`{"__proto__":{"polluted":true},${JSON.stringify(good).slice(1)}`, /./],
      ];
      for (const [body, reason] of bad) {
        const answer = await post(collector.url, body);
        if (body.includes("__proto__")) {
          assert.ok([201, 400].includes(answer.status), "a __proto__ key is data, not a prototype");
          assert.equal(({} as Record<string, unknown>).polluted, undefined);
          continue;
        }
        assert.equal(answer.status, 400, `${body.slice(0, 60)} → ${JSON.stringify(answer.json)}`);
        assert.match(String(answer.json.error), reason, body.slice(0, 60));
      }
      // Invalid UTF-8 and a binary body: 400, not a crash.
      assert.equal((await post(collector.url, Buffer.from([0xff, 0xfe, 0x00, 0x7b]))).status, 400);
      // Wrong method and path: answered, not 500.
      assert.equal((await getJson(`${base}/report`)).status, 405);
      assert.equal((await getJson(`${base}/nope`)).status, 404);
      // A request that is not HTTP: answered 400 by the server, and the collector goes on.
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = netConnect(new URL(base).port as unknown as number, "127.0.0.1");
        let text = "";
        socket.on("data", (d) => (text += d.toString()));
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
        socket.end("GARBAGE \x00\x01 /\r\n\r\n");
      });
      assert.match(raw, /^HTTP\/1\.1 400/);
      const ok = await post(collector.url, JSON.stringify(good));
      assert.equal(ok.status, 201, "after all that, a good report is still stored");
    });

    test("a body over 64 KB gets a 413 answer, with content-length and chunked, and the collector goes on", async () => {
      const huge = JSON.stringify({
        ...trustKitAndroidReport(genuine, HOST, 443, []),
        padding: "x".repeat(100_000),
      });
      const withLength = await post(collector.url, huge);
      assert.equal(withLength.status, 413);
      assert.match(String(withLength.json.error), /over 65536 bytes/);
      const chunked = await post(collector.url, huge, { "transfer-encoding": "chunked" });
      assert.equal(chunked.status, 413);
      // A body of 1.5 MB: still answered before the socket closes.
      const bigger = await post(collector.url, "x".repeat(1_500_000), {
        "transfer-encoding": "chunked",
      }).catch((error: Error) => ({ status: -1, json: { error: error.message } }));
      assert.ok(bigger.status === 413 || bigger.status === -1, String(bigger.status));
      // Exactly 64 KB of JSON is read (and refused for its shape, not its size).
      const exact = JSON.stringify({ pad: "y".repeat(65536 - 10) });
      assert.equal(Buffer.byteLength(exact), 65536);
      assert.equal((await post(collector.url, exact)).status, 400);
      assert.equal(
        (await post(collector.url, JSON.stringify(trustKitAndroidReport(genuine, HOST, 443, [])))).status,
        201,
      );
    });
  });

  describe("dedupe: TrustKit's tuple", () => {
    test("a flood of 400 identical reports, 40 at a time, is one group with count 400; a different pin is another", async () => {
      const host = "flood.keypin.test";
      const pins = [unrelatedPin(), unrelatedPin()];
      const body = JSON.stringify(trustKitAndroidReport(genuine, host, 443, pins));
      const statuses: number[] = [];
      for (let round = 0; round < 10; round++) {
        const answers = await Promise.all(Array.from({ length: 40 }, () => post(collector.url, body)));
        statuses.push(...answers.map((a) => a.status));
      }
      assert.deepEqual(new Set(statuses), new Set([201]));
      // The date-time differs between devices' reports; it is not part of the tuple.
      const later = {
        ...trustKitAndroidReport(genuine, host, 443, pins),
        "date-time": "2026-12-02T00:00:00Z",
      };
      assert.equal((await post(collector.url, JSON.stringify(later))).status, 201);
      let groups = await groupsOf(host);
      assert.equal(groups.length, 1);
      assert.equal(groups[0]?.count, 401);
      // Each element of the tuple makes a new group: port, noted host, served chain, known pins, result.
      const variants: Record<string, unknown>[] = [
        { ...trustKitAndroidReport(genuine, host, 8443, pins) },
        {
          ...trustKitAndroidReport(genuine, host, 443, pins),
          "noted-hostname": "keypin.test",
          "include-subdomains": true,
        },
        {
          ...trustKitAndroidReport(genuine, host, 443, pins),
          "served-certificate-chain": [genuine.leaf.pem],
        },
        { ...trustKitAndroidReport(genuine, host, 443, [pins[0] as string]) },
        { ...trustKitAndroidReport(genuine, host, 443, pins), "validation-result": 2 },
      ];
      for (const v of variants) assert.equal((await post(collector.url, JSON.stringify(v))).status, 201);
      groups = await groupsOf(host);
      assert.equal(groups.length, 6);
      assert.deepEqual(
        groups.map((g) => g.count).sort((a, b) => b - a),
        [401, 1, 1, 1, 1, 1],
      );
      // ?host= filters; the unfiltered list has the other hosts too.
      const all = await groupsOf();
      assert.ok(all.length > groups.length);
      assert.ok(groups.every((g) => g.host === host));
      const { json } = await getJson(`${base}/api/series?host=${host}`);
      assert.equal(
        json.series.reduce((s: number, p: { count: number }) => s + p.count, 0),
        406,
      );
    });

    if (backend.name === "sqlite") {
      test("the SQLite file holds what was acknowledged: reopened, the same groups and counts; one owner", async () => {
        const file = join(temp.dir, "reopen.db");
        const first = await openSqliteStore(file);
        await assert.rejects(openSqliteStore(file), /is in use by process \d+.*use PostgreSQL for several/);
        const c = await startCollector({ store: first });
        const body = JSON.stringify(
          trustKitAndroidReport(genuine, "reopen.keypin.test", 443, [unrelatedPin()]),
        );
        for (let i = 0; i < 25; i++) assert.equal((await post(c.url, body)).status, 201);
        const before = await first.groups();
        await c.close();
        await first.close();
        const reopened = await openSqliteStore(file);
        const again = await reopened.groups();
        await reopened.close();
        assert.equal(again[0]?.count, 25);
        assert.deepEqual(again, before);
      });
    }
  });

  describe("retention", () => {
    test("--retain-days: groups not seen for that long go, at start; newer ones and their minutes stay", async () => {
      const own = await backend.open("retention");
      let now = Date.parse("2026-11-01T12:00:00Z");
      const c = await startCollector({ store: own, now: () => now });
      const oldReport = JSON.stringify(
        trustKitAndroidReport(genuine, "old.keypin.test", 443, [unrelatedPin()]),
      );
      const newReport = JSON.stringify(
        trustKitAndroidReport(genuine, "new.keypin.test", 443, [unrelatedPin()]),
      );
      assert.equal((await post(c.url, oldReport)).status, 201);
      now += 5 * 86_400_000;
      assert.equal((await post(c.url, newReport)).status, 201);
      await c.close();
      now += 86_400_000; // the old group was last seen 6 days ago, the new one 1 day ago
      const keep7 = await startCollector({ store: own, now: () => now, retainDays: 7 });
      await keep7.close();
      assert.deepEqual((await own.groups()).map((g) => g.host).sort(), [
        "new.keypin.test",
        "old.keypin.test",
      ]);
      const keep3 = await startCollector({ store: own, now: () => now, retainDays: 3 });
      await keep3.close();
      assert.deepEqual(
        (await own.groups()).map((g) => g.host),
        ["new.keypin.test"],
      );
      assert.deepEqual(
        (await own.series()).map((p) => p.host),
        ["new.keypin.test"],
      );
      await own.close();
      const reopened = await backend.open("retention");
      assert.deepEqual(
        (await reopened.groups()).map((g) => g.host),
        ["new.keypin.test"],
        "the deletion is stored",
      );
      await reopened.close();
    });
  });
}
