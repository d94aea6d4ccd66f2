// The pin-union table of okhttp-patterns.ts against OkHttp itself (4.12, from the local Maven repository: OkHttp
// 3.13 from Debian has no "**." patterns): CertificatePinner.check with a certificate made by openssl names, in
// its failure, every pin it accepts for the host. The control: a host no pattern matches is accepted.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { makeTempDir } from "@keypin/testkit";
import { accepted, calls, pinOf, spellings } from "../okhttp-patterns.js";

const run = promisify(execFile);
const m2 = "/root/.m2/repository";
const classpath = [
  `${m2}/com/squareup/okhttp3/okhttp/4.12.0/okhttp-4.12.0.jar`,
  `${m2}/com/squareup/okio/okio-jvm/3.6.0/okio-jvm-3.6.0.jar`,
  `${m2}/org/jetbrains/kotlin/kotlin-stdlib/1.9.10/kotlin-stdlib-1.9.10.jar`,
];

test("OkHttp 4.12 accepts, for each host, the union of every matching pattern's pins: the table keypin's import is held to", async (t) => {
  for (const jar of classpath)
    assert.ok(existsSync(jar), `${jar} is missing (OkHttp 4.12 and its dependencies)`);
  const tmp = makeTempDir("keypin-okhttp-union-");
  t.after(tmp.remove);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(tmp.dir, "key.pem"),
    "-out",
    join(tmp.dir, "cert.pem"),
    "-subj",
    "/CN=keypin union",
    "-days",
    "2",
  ]);
  const adds = calls
    .map(([pattern, pins]) => `b.add("${pattern}", ${pins.map((p) => `"${pinOf(p)}"`).join(", ")});`)
    .join("\n    ");
  writeFileSync(
    join(tmp.dir, "Union.java"),
    `import java.io.FileInputStream;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collections;
import okhttp3.CertificatePinner;
public class Union {
  public static void main(String[] args) throws Exception {
    Certificate cert = CertificateFactory.getInstance("X.509").generateCertificate(new FileInputStream(args[0]));
    CertificatePinner.Builder b = new CertificatePinner.Builder();
    ${adds}
    CertificatePinner pinner = b.build();
    for (int i = 1; i < args.length; i++) {
      try {
        pinner.check(args[i], Collections.singletonList(cert));
        System.out.println(args[i] + " ACCEPTED");
      } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
        String m = e.getMessage();
        System.out.println(args[i] + " " + m.substring(m.indexOf("Pinned certificates for")).replaceAll("\\\\s+", " "));
      }
    }
  }
}
`,
  );
  const cp = classpath.join(":");
  await run("javac", ["-cp", cp, "-d", tmp.dir, join(tmp.dir, "Union.java")]);
  const hosts = [...Object.keys(accepted), "unpinned.example.dev"];
  const { stdout } = await run("java", [
    "-cp",
    `${cp}:${tmp.dir}`,
    "Union",
    join(tmp.dir, "cert.pem"),
    ...hosts,
  ]);
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, hosts.length, stdout);
  // The control: the certificate's key is no pin, yet a host no pattern matches is accepted.
  assert.equal(lines.at(-1), "unpinned.example.dev ACCEPTED");
  for (const [i, host] of Object.keys(accepted).entries()) {
    const line = lines[i]!;
    assert.ok(line.startsWith(`${host} Pinned certificates for ${host}:`), line);
    // OkHttp lists a pin once per matching pattern: the set is what it accepts.
    const got = [...new Set([...line.matchAll(/sha256\/[A-Za-z0-9+/]+=*/g)].map((m) => m[0]))].sort();
    assert.deepEqual(got, accepted[host]!.map(pinOf).sort(), host);
  }
});

test("OkHttp 4.12 applies a pattern to the host keypin reads it as exactly where okhttp-patterns.ts says (case, IDN, fullwidth dots yes; a trailing dot, hex IPv4, white space no)", async (t) => {
  for (const jar of classpath)
    assert.ok(existsSync(jar), `${jar} is missing (OkHttp 4.12 and its dependencies)`);
  const tmp = makeTempDir("keypin-okhttp-spelling-");
  t.after(tmp.remove);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(tmp.dir, "key.pem"),
    "-out",
    join(tmp.dir, "cert.pem"),
    "-subj",
    "/CN=keypin spelling",
    "-days",
    "2",
  ]);
  writeFileSync(
    join(tmp.dir, "Spelling.java"),
    `import java.io.FileInputStream;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collections;
import okhttp3.CertificatePinner;
public class Spelling {
  public static void main(String[] args) throws Exception {
    Certificate cert = CertificateFactory.getInstance("X.509").generateCertificate(new FileInputStream(args[0]));
    for (int i = 1; i + 1 < args.length; i += 2) {
      CertificatePinner pinner;
      try {
        pinner = new CertificatePinner.Builder().add(args[i], "${pinOf(1)}").build();
      } catch (IllegalArgumentException e) {
        System.out.println("REFUSED");
        continue;
      }
      try {
        pinner.check(args[i + 1], Collections.singletonList(cert));
        System.out.println("NOT-APPLIED");
      } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
        System.out.println("APPLIED");
      }
    }
  }
}
`,
  );
  const cp = classpath.join(":");
  await run("javac", ["-encoding", "UTF-8", "-cp", cp, "-d", tmp.dir, join(tmp.dir, "Spelling.java")]);
  // The control first: the canonical spelling of each host is applied (the certificate's key is no pin: a failure).
  const args = [
    ...spellings.flatMap(([, host]) => [host, host]),
    ...spellings.flatMap((s) => s.slice(0, 2) as string[]),
  ];
  const { stdout } = await run("java", [
    "-Dfile.encoding=UTF-8",
    "-cp",
    `${cp}:${tmp.dir}`,
    "Spelling",
    join(tmp.dir, "cert.pem"),
    ...args,
  ]);
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, spellings.length * 2, stdout);
  assert.deepEqual(
    lines.slice(0, spellings.length),
    spellings.map(() => "APPLIED"),
  );
  spellings.forEach(([pattern, host, applied], i) => {
    const got = lines[spellings.length + i]!;
    assert.equal(got === "APPLIED", applied, `${JSON.stringify(pattern)} for ${host}: OkHttp says ${got}`);
  });
});
