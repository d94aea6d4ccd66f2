// Runs generated OkHttp pinning code for real: Debian's OkHttp 3.13 (libokhttp-java), a small Java
// harness that trusts the test CA (custom TrustManager) and resolves every host to 127.0.0.1, against
// a Node HTTPS server whose certificate the test made with openssl.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TestPki } from "@keypin/testkit";

const run = promisify(execFile);

export const javaDir = "/usr/share/java";
export const okhttpClasspath = [join(javaDir, "okhttp.jar"), join(javaDir, "okio.jar")];

/** Fails the test (never skips) when a tool or jar the interop tests need is missing. */
export function requireTools(tools: string[], jars: string[]): void {
  for (const tool of tools) {
    const probe = spawnSync(tool, ["-version"], { encoding: "utf8" });
    assert.ok(
      probe.error === undefined,
      `${tool} is missing (${String(probe.error)}): install the Debian packages libokhttp-java and kotlin (apt-get install -y libokhttp-java kotlin)`,
    );
  }
  for (const jar of jars) {
    assert.ok(existsSync(jar), `${jar} is missing: install the Debian package libokhttp-java`);
  }
}

/** A Java program: for each URL argument, one line "OK <code> <url>" or "PINFAIL <url> <message>" or "ERROR <url> <exception>". */
export function harnessSource(pinnerExpression: string): string {
  return `import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import okhttp3.Dns;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;

public class Harness {
    public static void main(String[] args) throws Exception {
        X509Certificate ca;
        try (InputStream in = new FileInputStream(args[0])) {
            ca = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        KeyStore anchors = KeyStore.getInstance(KeyStore.getDefaultType());
        anchors.load(null, null);
        anchors.setCertificateEntry("test-ca", ca);
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(anchors);
        X509TrustManager trust = (X509TrustManager) factory.getTrustManagers()[0];
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, new TrustManager[] { trust }, null);
        Dns loopback = new Dns() {
            @Override
            public List<InetAddress> lookup(String hostname) throws java.net.UnknownHostException {
                return Collections.singletonList(InetAddress.getByName("127.0.0.1"));
            }
        };
        OkHttpClient client = new OkHttpClient.Builder()
            .sslSocketFactory(context.getSocketFactory(), trust)
            .dns(loopback)
            .certificatePinner(${pinnerExpression})
            .build();
        for (int i = 1; i < args.length; i++) {
            String url = args[i];
            try (Response response = client.newCall(new Request.Builder().url(url).build()).execute()) {
                System.out.println("OK " + response.code() + " " + url);
            } catch (SSLPeerUnverifiedException e) {
                System.out.println("PINFAIL " + url + " " + e.getMessage().replace('\\n', ' '));
            } catch (IOException e) {
                System.out.println("ERROR " + url + " " + e);
            }
        }
        client.connectionPool().evictAll();
        client.dispatcher().executorService().shutdown();
    }
}
`;
}

/** An HTTPS server on 127.0.0.1 (port 0) serving the test leaf, counting requests that reached it. */
export async function startServer(
  pki: TestPki,
): Promise<{ server: Server; port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer({ cert: pki.leafPem, key: pki.leafKeyPem }, (req, res) => {
    requests.push(String(req.headers.host));
    res.end("hello");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { server, port: address.port, requests };
}

/** Compiles Harness.java with javac against OkHttp (plus `extraClasspath`) and runs it on `urls`. */
export async function runHarness(
  dir: string,
  pinnerExpression: string,
  extraClasspath: string[],
  caPath: string,
  urls: string[],
): Promise<Map<string, string>> {
  writeFileSync(join(dir, "Harness.java"), harnessSource(pinnerExpression));
  const classpath = [dir, ...extraClasspath, ...okhttpClasspath].join(":");
  await run("javac", ["-cp", classpath, "-d", dir, join(dir, "Harness.java")]);
  const { stdout } = await run("java", ["-cp", classpath, "Harness", caPath, ...urls], { timeout: 60_000 });
  const results = new Map<string, string>();
  for (const line of stdout.trim().split("\n")) {
    const [verdict, a, b] = line.split(" ");
    const url = verdict === "OK" ? b : a;
    results.set(url ?? "", line);
  }
  return results;
}

export { run };
