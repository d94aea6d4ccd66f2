import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  answerHello,
  crossSign,
  curl,
  type Issued,
  makeCa,
  makeLeaf,
  makeSelfSigned,
  makeTempDir,
  opensslPinOfCertificate,
  type RunningServer,
  runCli,
  startConnectProxy,
  startHttpsServer,
} from "@keypin/testkit";

interface ChainJson {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  role: string;
  pin: string;
}
interface InspectJson {
  host: string;
  port: number;
  servername: string;
  trusted: boolean;
  chain: ChainJson[];
  verifiedChain: ChainJson[];
  warnings: { code: string; message: string }[];
}

describe("keypin inspect", () => {
  const tmp = makeTempDir();
  let root: Issued;
  let intermediate: Issued;
  let leaf: Issued;
  let stray: Issued;
  let leRoot: Issued;
  let leIntermediate: Issued;
  let leLeaf: Issued;
  let server: RunningServer;
  let leServer: RunningServer;

  before(async () => {
    root = makeCa(tmp.dir, "root", "/O=Keypin Test/CN=Keypin Test Root");
    intermediate = makeCa(tmp.dir, "intermediate", "/O=Keypin Test/CN=Keypin Test Issuing CA", {
      issuer: root,
      kind: "rsa-2048",
    });
    leaf = makeLeaf(tmp.dir, "leaf", ["localhost", "127.0.0.1", "api.myapp.test"], intermediate);
    // The root cross-signed by an older root (as ISRG Root X1 was by DST Root CA X3): the server sends it,
    // but the verified path ends at the self-signed root the client trusts, so its role is "extra".
    const oldRoot = makeCa(tmp.dir, "old-root", "/O=Old Trust/CN=Old Root CA");
    stray = crossSign(tmp.dir, root, "/O=Keypin Test/CN=Keypin Test Root", oldRoot);
    server = await startHttpsServer({
      key: leaf.key,
      cert: `${leaf.cert}${intermediate.cert}${stray.cert}`,
      handler: answerHello,
    });

    // Named like Let's Encrypt's 2024 hierarchy: the CA-family table must recognize it.
    leRoot = makeCa(tmp.dir, "isrg", "/C=US/O=Internet Security Research Group/CN=ISRG Root X1");
    leIntermediate = makeCa(tmp.dir, "r11", "/C=US/O=Let's Encrypt/CN=R11", { issuer: leRoot });
    leLeaf = makeLeaf(tmp.dir, "le-leaf", ["localhost"], leIntermediate, { days: 10 });
    leServer = await startHttpsServer({
      key: leLeaf.key,
      cert: `${leLeaf.cert}${leIntermediate.cert}`,
      handler: answerHello,
    });
  });

  after(async () => {
    await server.close();
    await leServer.close();
    tmp.remove();
  });

  it("prints a leaf pin that curl --pinnedpubkey accepts, and curl refuses a wrong one", async () => {
    const result = await runCli(["inspect", `localhost:${server.port}`, "--ca", root.certPath, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as InspectJson;
    const leafPin = report.chain[0]!.pin;
    const url = `https://localhost:${server.port}/`;
    const accepted = await curl([
      "--cacert",
      root.certPath,
      "--pinnedpubkey",
      leafPin.replace("sha256/", "sha256//"),
      url,
    ]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(accepted.stdout, "hello\n");
    const wrongPin = report.chain[1]!.pin; // the intermediate's key is not the leaf's
    const refused = await curl([
      "--cacert",
      root.certPath,
      "--pinnedpubkey",
      wrongPin.replace("sha256/", "sha256//"),
      url,
    ]);
    assert.equal(
      refused.code,
      90,
      `curl must refuse the wrong pin (CURLE_SSL_PINNEDPUBKEYNOTMATCH): ${refused.stderr}`,
    );
  });

  it("reports the served and verified chains with roles, key types, dates and openssl's pins", async () => {
    const result = await runCli(["inspect", `localhost:${server.port}`, "--ca", root.certPath, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as InspectJson;
    assert.equal(report.host, "localhost");
    assert.equal(report.port, server.port);
    assert.equal(report.servername, "localhost");
    assert.equal(report.trusted, true);
    assert.deepEqual(
      report.chain.map((c) => [c.role, c.pin]),
      [
        ["leaf", opensslPinOfCertificate(leaf.cert)],
        ["intermediate", opensslPinOfCertificate(intermediate.cert)],
        ["extra", opensslPinOfCertificate(stray.cert)],
      ],
    );
    assert.deepEqual(
      report.verifiedChain.map((c) => [c.role, c.pin]),
      [
        ["leaf", opensslPinOfCertificate(leaf.cert)],
        ["intermediate", opensslPinOfCertificate(intermediate.cert)],
        ["root", opensslPinOfCertificate(root.cert)],
      ],
    );
    assert.deepEqual(
      report.verifiedChain.map((c) => c.keyType),
      ["EC-P256", "RSA-2048", "EC-P256"],
    );
    assert.match(report.chain[0]!.subject, /CN=localhost/);
    assert.match(report.chain[0]!.issuer, /CN=Keypin Test Issuing CA/);
    for (const cert of report.chain) {
      assert.equal(new Date(cert.notAfter).toISOString(), cert.notAfter, "dates are ISO 8601");
    }
    const extra = report.warnings.find((w) => w.code === "extra-certificates");
    assert.match(extra?.message ?? "", /^the server sends 1 certificate that is not on the verified path /);
    assert.ok(!report.warnings.some((w) => w.code === "rotates-intermediates"));
  });

  it("warns that a Let's Encrypt-like issuer rotates intermediates and that the leaf expires soon", async () => {
    const result = await runCli(["inspect", `localhost:${leServer.port}`, "--ca", leRoot.certPath, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as InspectJson;
    const rotation = report.warnings.find((w) => w.code === "rotates-intermediates");
    assert.ok(rotation, JSON.stringify(report.warnings));
    assert.match(rotation.message, /R10–R14/);
    assert.match(rotation.message, /ISRG Root X2/);
    assert.ok(report.warnings.some((w) => w.code === "expires-soon"));
  });

  it("shows an untrusted chain, says so on one stderr line and exits 1", async () => {
    const result = await runCli(["inspect", `localhost:${server.port}`, "--json"]);
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout) as InspectJson;
    assert.equal(report.trusted, false);
    assert.deepEqual(report.verifiedChain, []);
    assert.equal(report.chain[0]!.pin, opensslPinOfCertificate(leaf.cert));
    assert.ok(report.warnings.some((w) => w.code === "untrusted"));
    assert.equal(result.stderr.trimEnd().split("\n").length, 1);
    assert.match(result.stderr, /^keypin: localhost:\d+: the chain is not trusted/);
  });

  it("warns about a self-signed leaf that is trusted only because --ca names it", async () => {
    const cert = makeSelfSigned(tmp.dir, "self", "/CN=localhost", {
      kind: "ed25519",
      days: 60,
      addext: ["subjectAltName=DNS:localhost"],
    });
    const self = await startHttpsServer({ key: cert.key, cert: cert.cert, handler: answerHello });
    try {
      const result = await runCli(["inspect", `localhost:${self.port}`, "--ca", cert.certPath, "--json"]);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as InspectJson;
      assert.equal(report.trusted, true);
      assert.deepEqual(
        report.verifiedChain.map((c) => [c.role, c.keyType]),
        [["leaf", "Ed25519"]],
      );
      assert.ok(
        report.warnings.some((w) => w.code === "self-signed"),
        JSON.stringify(report.warnings),
      );
    } finally {
      await self.close();
    }
  });

  it("flags a certificate that does not match the server name and exits 1", async () => {
    const result = await runCli([
      "inspect",
      `127.0.0.1:${server.port}`,
      "--servername",
      "other.myapp.test",
      "--ca",
      root.certPath,
      "--json",
    ]);
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as InspectJson;
    assert.equal(report.servername, "other.myapp.test");
    assert.ok(
      report.warnings.some((w) => w.code === "hostname-mismatch"),
      JSON.stringify(report.warnings),
    );
  });

  it("blames the name, not the CA, when the chain verifies but is not valid for the name asked for", async () => {
    const result = await runCli([
      "inspect",
      "wrong.myapp.test",
      "--connect-to",
      `wrong.myapp.test:443:127.0.0.1:${server.port}`,
      "--ca",
      root.certPath,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^wrong\.myapp\.test:443: .*NOT valid for wrong\.myapp\.test/m);
    assert.doesNotMatch(result.stdout, /not trusted|untrusted\]/, "the chain verified: no trust warning");
    assert.doesNotMatch(result.stdout, /wrong\.myapp\.test\. /, "no stray dot after the name");
    const last = result.stderr.trim().split("\n").at(-1)!;
    assert.match(
      last,
      /^keypin: wrong\.myapp\.test:443: the certificate is not valid for wrong\.myapp\.test/,
    );
    assert.match(last, /DNS:api\.myapp\.test/, "names the certificate's names");
    assert.doesNotMatch(last, /--ca|not trusted/, "the CA is not to blame");
    const json = await runCli([
      "inspect",
      "wrong.myapp.test",
      "--connect-to",
      `wrong.myapp.test:443:127.0.0.1:${server.port}`,
      "--ca",
      root.certPath,
      "--json",
    ]);
    const report = JSON.parse(json.stdout) as InspectJson;
    assert.equal(report.trusted, false, "trusted still means trusted and valid for the name");
    assert.deepEqual(
      report.warnings
        .filter((w) => w.code === "untrusted" || w.code === "hostname-mismatch")
        .map((w) => w.code),
      ["hostname-mismatch"],
    );
  });

  it("connects elsewhere with --connect-to while checking the name asked for", async () => {
    const result = await runCli([
      "inspect",
      "api.myapp.test",
      "--connect-to",
      `api.myapp.test:443:127.0.0.1:${server.port}`,
      "--ca",
      root.certPath,
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as InspectJson;
    assert.equal(report.host, "api.myapp.test");
    assert.equal(report.port, 443);
    assert.equal(report.trusted, true);
  });

  it("goes through an HTTP CONNECT proxy given with --proxy or HTTPS_PROXY", async () => {
    const proxy = await startConnectProxy();
    try {
      const viaFlag = await runCli([
        "inspect",
        `localhost:${server.port}`,
        "--ca",
        root.certPath,
        "--proxy",
        `http://127.0.0.1:${proxy.port}`,
        "--json",
      ]);
      assert.equal(viaFlag.code, 0, viaFlag.stderr);
      assert.equal((JSON.parse(viaFlag.stdout) as InspectJson).trusted, true);
      assert.ok(proxy.tunnels.length >= 1);
      assert.ok(
        proxy.tunnels.every((c) => c === `localhost:${server.port}`),
        proxy.tunnels.join(),
      );
      const before = proxy.tunnels.length;
      const viaEnv = await runCli(["inspect", `localhost:${server.port}`, "--ca", root.certPath, "--json"], {
        env: { HTTPS_PROXY: `http://127.0.0.1:${proxy.port}` },
      });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.ok(proxy.tunnels.length > before, "HTTPS_PROXY is used when --proxy is not given");
    } finally {
      await proxy.close();
    }
  });

  it("names the server name it sent only when it sent one: none for an IP address", async () => {
    const byIp = await runCli(["inspect", `127.0.0.1:${server.port}`, "--ca", root.certPath]);
    assert.equal(byIp.code, 0, byIp.stderr);
    assert.equal(byIp.stdout.split("\n")[0], `127.0.0.1:${server.port}: trusted`);
    const named = await runCli([
      "inspect",
      `127.0.0.1:${server.port}`,
      "--servername",
      "api.myapp.test",
      "--ca",
      root.certPath,
    ]);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(
      named.stdout.split("\n")[0],
      `127.0.0.1:${server.port} (server name api.myapp.test): trusted`,
    );
  });

  it("prints an aligned human report with roles, pins, warnings and advice", async () => {
    const result = await runCli(["inspect", `localhost:${leServer.port}`, "--ca", leRoot.certPath]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Served chain/);
    assert.match(result.stdout, /Verified chain/);
    assert.match(result.stdout, /\n {2}leaf {10}CN=localhost/);
    assert.match(result.stdout, /\n {2}intermediate {2}CN=R11/);
    assert.ok(result.stdout.includes(opensslPinOfCertificate(leRoot.cert)));
    assert.match(result.stdout, /Advice/);
    assert.match(result.stdout, /keypin backup/);
  });
});
