// keypin audit against Debian's OkHttp 3.13 (libokhttp-java) in one JVM: CertificatePinner pins one host, another
// host is not pinned (the control, same TLS stack). Measured: OkHttp's pinner runs after the handshake, so the
// proxy sees a completed handshake, then a close with no application data.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import { createChain, makeTempDir, opensslPinOfCertificate, startHttpsServer } from "@keypin/testkit";

const run = promisify(execFile);
const jars = ["/usr/share/java/okhttp.jar", "/usr/share/java/okio.jar"];

const harness = (pinnedHost: string, pin: string) => `import java.io.FileInputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.*;
import okhttp3.*;

public class AuditHarness {
    public static void main(String[] args) throws Exception {
        KeyStore anchors = KeyStore.getInstance(KeyStore.getDefaultType());
        anchors.load(null, null);
        try (InputStream in = new FileInputStream(args[0])) {
            anchors.setCertificateEntry("audit-ca", (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(anchors);
        X509TrustManager trust = (X509TrustManager) factory.getTrustManagers()[0];
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, new TrustManager[] { trust }, null);
        OkHttpClient client = new OkHttpClient.Builder()
            .sslSocketFactory(context.getSocketFactory(), trust)
            .proxy(new Proxy(Proxy.Type.HTTP, new InetSocketAddress("127.0.0.1", Integer.parseInt(args[1]))))
            .certificatePinner(new CertificatePinner.Builder().add("${pinnedHost}", "${pin}").build())
            .build();
        for (int i = 2; i < args.length; i++) {
            try (Response r = client.newCall(new Request.Builder().url(args[i]).header("Authorization", "Bearer okhttp-secret").build()).execute()) {
                System.out.println("OK " + r.code() + " " + args[i]);
            } catch (SSLPeerUnverifiedException e) {
                System.out.println("PINFAIL " + args[i]);
            } catch (Exception e) {
                System.out.println("ERROR " + args[i] + " " + e);
            }
        }
        client.connectionPool().evictAll();
        client.dispatcher().executorService().shutdown();
    }
}
`;

test("OkHttp 3.13: CertificatePinner host pinned (control: the unpinned host of the same client, intercepted)", async () => {
  for (const jar of jars) assert.ok(existsSync(jar), `${jar} is missing: apt-get install -y libokhttp-java`);
  using tmp = makeTempDir("keypin-audit-okhttp-");
  const genuine = await createChain("p256", ["pinned.audit.test", "open.audit.test"], "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  writeFileSync(
    join(tmp.dir, "AuditHarness.java"),
    harness("pinned.audit.test", opensslPinOfCertificate(genuine.leaf.pem)),
  );
  const classpath = [tmp.dir, ...jars].join(":");
  await run("javac", ["-cp", classpath, "-d", tmp.dir, join(tmp.dir, "AuditHarness.java")]);
  const audit = await startAudit({
    ca,
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
  });
  const urls = ["open.audit.test", "pinned.audit.test"].map((h) => `https://${h}:${server.port}/`);
  const { stdout } = await run(
    "java",
    ["-cp", classpath, "AuditHarness", ca.certPath, String(audit.proxy.port), ...urls],
    { timeout: 60_000 },
  );
  const report = await audit.finish();
  await server.close();
  assert.deepEqual(
    stdout
      .trim()
      .split("\n")
      .map((l) => l.split(" ")[0]),
    ["OK", "PINFAIL"],
    stdout,
  );
  const of = (host: string) => report.verdicts.filter((v) => v.host === host);
  assert.deepEqual(
    of("open.audit.test").map((v) => v.verdict),
    ["intercepted"],
  );
  const pinned = of("pinned.audit.test");
  assert.deepEqual(
    pinned.map((v) => v.verdict),
    ["pinned"],
  );
  assert.equal(
    pinned[0]!.evidence.refusals?.every((r) => r.handshake),
    true,
    "OkHttp's pinner runs after the handshake",
  );
  assert.equal(pinned[0]!.evidence.control?.host, "open.audit.test");
  assert.ok(!JSON.stringify(report).includes("okhttp-secret"));
});
