// The files of lexical-cases.ts compiled by javac and kotlinc against Debian's OkHttp 3.13 (libokhttp-java) and
// run: for each host, the pins the program's CertificatePinners hold (CertificatePinner.check with a certificate
// made by openssl names them in its failure) are the `runtime` pins the unit tests hold keypin's import to.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { makeTempDir } from "@keypin/testkit";
import { javaCases, kotlinCases, type LexicalCase } from "../lexical-cases.js";

const run = promisify(execFile);
const okhttp = ["/usr/share/java/okhttp.jar", "/usr/share/java/okio.jar"];
const stdlib = "/usr/share/java/kotlin-stdlib.jar";
const hosts = [
  "api.example.com",
  "login.example.com",
  "cdn.example.com",
  "www.example.com",
  "dead.example.com",
  "cond.example.com",
  "loop.example.com",
  "ok.example.com",
  "once.example.com",
  "unbuilt.example.com",
];

/** For each host argument, one line: the host, then every pin of every static CertificatePinner of the classes. */
const harness = `import java.io.FileInputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collections;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import okhttp3.CertificatePinner;
public class PinsOf {
  public static void main(String[] args) throws Exception {
    Certificate cert = CertificateFactory.getInstance("X.509").generateCertificate(new FileInputStream(args[0]));
    Pattern pin = Pattern.compile("sha256/[A-Za-z0-9+/]+=*");
    for (int i = 2; i < args.length; i++) {
      TreeSet<String> pins = new TreeSet<>();
      for (String c : args[1].split(",")) {
        for (Field f : Class.forName(c).getDeclaredFields()) {
          if (!Modifier.isStatic(f.getModifiers()) || f.getType() != CertificatePinner.class) continue;
          f.setAccessible(true);
          try {
            ((CertificatePinner) f.get(null)).check(args[i], Collections.singletonList(cert));
          } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
            String m = e.getMessage();
            Matcher x = pin.matcher(m.substring(m.indexOf("Pinned certificates for")));
            while (x.find()) pins.add(x.group());
          }
        }
      }
      System.out.println(args[i] + (pins.isEmpty() ? "" : " " + String.join(" ", pins)));
    }
  }
}
`;

async function pinsOf(classpath: string[], work: string, cert: string, c: LexicalCase) {
  const { stdout } = await run("java", [
    "-cp",
    [...classpath, work].join(":"),
    "PinsOf",
    cert,
    c.classes.join(","),
    ...hosts,
  ]);
  const got: Record<string, string[]> = {};
  for (const line of stdout.trim().split("\n")) {
    const [host, ...pins] = line.split(" ");
    if (pins.length > 0) got[host!] = pins;
  }
  const expected = Object.fromEntries(Object.entries(c.runtime).map(([h, p]) => [h, [...p].sort()]));
  assert.deepEqual(got, expected, `${c.file}: what OkHttp holds when the program runs`);
}

test("javac and kotlinc with OkHttp build exactly the pins lexical-cases.ts says (Unicode escapes, templates, shadowed names)", async (t) => {
  for (const jar of [...okhttp, stdlib])
    assert.ok(existsSync(jar), `${jar} is missing (apt-get install libokhttp-java kotlin)`);
  const tmp = makeTempDir("keypin-lexical-");
  t.after(tmp.remove);
  const cert = join(tmp.dir, "cert.pem");
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
    cert,
    "-subj",
    "/CN=keypin lexical",
    "-days",
    "2",
  ]);
  const javaDir = join(tmp.dir, "java");
  const kotlinDir = join(tmp.dir, "kotlin");
  for (const dir of [javaDir, kotlinDir]) mkdirSync(join(dir, "src"), { recursive: true });
  const write = (dir: string, c: LexicalCase) => {
    const path = join(dir, "src", c.file);
    writeFileSync(path, c.text);
    return path;
  };
  writeFileSync(join(javaDir, "src", "PinsOf.java"), harness);
  await run("javac", [
    "-encoding",
    "UTF-8",
    "-cp",
    okhttp.join(":"),
    "-d",
    javaDir,
    join(javaDir, "src", "PinsOf.java"),
    ...javaCases.map((c) => write(javaDir, c)),
  ]);
  // One kotlinc run for every file: the JVM start-up of the 1.3 compiler is the slow part.
  await run(
    "kotlinc",
    ["-cp", okhttp.join(":"), "-d", kotlinDir, ...kotlinCases.map((c) => write(kotlinDir, c))],
    {
      timeout: 240_000,
    },
  );
  for (const c of javaCases) await pinsOf(okhttp, javaDir, cert, c);
  // the harness is Java: its class is found on the Java side of the class path
  for (const c of kotlinCases) await pinsOf([...okhttp, stdlib, javaDir], kotlinDir, cert, c);
});
