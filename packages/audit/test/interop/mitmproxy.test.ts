// mitmproxy's own account beside keypin audit's verdict, for the same clients: curl --pinnedpubkey, curl without
// the proxy's CA, Node (TLS 1.3) pinned by @keypin/node and Node without the CA. mitmdump 8 logs one line per
// refused handshake; keypin's verdicts tell the pinned clients from the untrusting ones (with a control).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { connect as connectTls } from "node:tls";
import { loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import { createPinnedDispatcher } from "@keypin/node";
import {
  createChain,
  curl,
  makeTempDir,
  opensslPinOfCertificate,
  policyOf,
  startHttpsServer,
  startMitmdump,
} from "@keypin/testkit";
import { ProxyAgent, fetch as undiciFetch } from "undici";

test("mitmdump vs keypin audit on the same clients: mitmproxy's lines, keypin's verdicts", async () => {
  using tmp = makeTempDir("keypin-audit-mitm-");
  const genuine = await createChain("p256", ["localhost", "127.0.0.1"], "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  const upstreamCaPath = join(tmp.dir, "public-root.pem");
  writeFileSync(upstreamCaPath, genuine.root.pem);
  const pin = opensslPinOfCertificate(genuine.leaf.pem);
  const nodeNoCa = (proxyPort: number, host: string) =>
    new Promise<void>((resolve) => {
      const req = httpRequest({
        host: "127.0.0.1",
        port: proxyPort,
        method: "CONNECT",
        path: `${host}:${server.port}`,
      });
      req.on("connect", (_r, socket) => {
        const s = connectTls({
          socket,
          ...(host === "localhost" ? { servername: host } : {}),
          ca: [genuine.root.pem],
          minVersion: "TLSv1.3",
        });
        s.on("error", () => resolve());
        s.on("close", () => resolve());
      });
      req.on("error", () => resolve());
      req.end();
    });
  /** The clients, given the proxy and a PEM file that trusts its CA. */
  const clients = async (proxyUrl: string, proxyPort: number, trusts: string, caPem: string) => {
    const lines: Record<string, number | null> = {};
    // The control: curl unpinned to 127.0.0.1. Then curl pinned to localhost.
    lines.control = (
      await curl(["--proxy", proxyUrl, "--cacert", trusts, `https://127.0.0.1:${server.port}/`])
    ).code;
    lines.curlPinned = (
      await curl([
        "--proxy",
        proxyUrl,
        "--cacert",
        trusts,
        "--pinnedpubkey",
        pin.replace("sha256/", "sha256//"),
        `https://localhost:${server.port}/`,
      ])
    ).code;
    // Node's control: undici, unpinned, to 127.0.0.1.
    const agent = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: [genuine.root.pem, caPem] } });
    lines.nodeControl = (
      await undiciFetch(`https://127.0.0.1:${server.port}/`, { dispatcher: agent })
    ).status;
    await agent.close();
    const pinned = createPinnedDispatcher({
      policy: policyOf({ localhost: [pin, opensslPinOfCertificate(genuine.root.pem)] }),
      ca: [caPem],
      proxy: proxyUrl,
    });
    await fetch(`https://localhost:${server.port}/`, { dispatcher: pinned } as unknown as RequestInit).catch(
      () => undefined,
    );
    return lines;
  };

  // mitmproxy, same clients.
  const mitm = await startMitmdump({ confdir: join(tmp.dir, "mitm-conf"), upstreamCaPath, dir: tmp.dir });
  const mitmTrusts = join(tmp.dir, "mitm-trusts.pem");
  writeFileSync(mitmTrusts, genuine.root.pem + mitm.caPem);
  assert.deepEqual(await clients(mitm.url, mitm.port, mitmTrusts, mitm.caPem), {
    control: 0,
    curlPinned: 90,
    nodeControl: 200,
  });
  await nodeNoCa(mitm.port, "localhost");
  const record = await mitm.stop();
  const mitmLines = (record.stdout + record.stderr)
    .split("\n")
    .filter((l) => /handshake failed|does not trust|disconnected/i.test(l));
  console.log("mitmdump said:\n" + mitmLines.join("\n"));

  // keypin audit, same clients, plus Node without the CA in a session of its own (no control: never pinned).
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  const trusts = join(tmp.dir, "audit-trusts.pem");
  writeFileSync(trusts, genuine.root.pem + ca.certPem);
  const options = { ca, upstreamCa: [genuine.root.pem] };
  const audit = await startAudit(options);
  assert.deepEqual(await clients(audit.proxy.url, audit.proxy.port, trusts, ca.certPem), {
    control: 0,
    curlPinned: 90,
    nodeControl: 200,
  });
  const report = await audit.finish();
  const alone = await startAudit(options);
  await nodeNoCa(alone.proxy.port, "localhost");
  const aloneReport = await alone.finish();
  await server.close();
  const verdicts = report.verdicts.map((v) => `${v.host} ${v.client.fingerprint.slice(0, 6)} ${v.verdict}`);
  console.log(
    "keypin audit said:\n" +
      [...verdicts, ...aloneReport.verdicts.map((v) => `${v.host} ${v.verdict} (alone)`)].join("\n"),
  );
  const byHost = (host: string): string[] =>
    report.verdicts
      .filter((v) => v.host === host)
      .map((v) => v.verdict)
      .sort();
  assert.deepEqual(byHost("127.0.0.1"), ["intercepted", "intercepted"]); // curl and undici, the controls
  assert.deepEqual(byHost("localhost"), ["pinned", "pinned"]); // curl (post-handshake) and @keypin/node (in the handshake)
  assert.deepEqual(
    aloneReport.verdicts.map((v) => v.verdict),
    ["undetermined"],
  );
  // What mitmproxy shows for the pinned Node client and for the Node client that does not trust its CA: one
  // kind of line each time, with nothing that says which is a pin.
  // Measured (mitmdump 8): nothing at all for curl --pinnedpubkey (its handshake completed), and the same line for
  // the Node client pinned by @keypin/node and the Node client without the CA.
  const withoutPort = mitmLines.map((l) => l.replace(/^127\.0\.0\.1:\d+: /, ""));
  assert.equal(withoutPort.length, 2, record.stdout + record.stderr);
  assert.equal(withoutPort[0], withoutPort[1]);
  assert.match(withoutPort[0]!, /may indicate that the client does not trust the proxy's certificate/);
});
