// OkHttp: an add() that may not run (inside an if, a when, a loop, a try, a lambda other than the builder's own
// apply/also/run block; after ?:, && or a ternary) or whose builder this file never builds is reported with its
// line, not imported as a certain pin (review 2, finding 3). Ordinary code (builder chains, apply blocks,
// function and class bodies, run/lazy blocks) is read as before. lexical-cases.ts holds such files that javac and
// kotlinc compile against OkHttp (interop/lexical-cases.test.ts), whose pins these readings match.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ImportedSource, importFile } from "@keypin/import";

const pinOf = (n: number) => `sha256/${Buffer.alloc(32, n).toString("base64")}`;
const [P1, P2] = [pinOf(1), pinOf(2)];

const read = (file: string, text: string): ImportedSource => importFile(file, text).sources[0]!;
const hosts = (s: ImportedSource) => s.domains.map((d) => d.domain).sort();
const uncertain = (s: ImportedSource) =>
  s.findings
    .filter((f) => f.kind === "unreadable" && /so it may not run/.test(f.message))
    .map((f) => [f.place.line, /^add\("([^"]+)"/.exec(f.message)?.[1]])
    .sort((a, b) => Number(a[0]) - Number(b[0]));

test("Kotlin: adds that may not run are reported with their line; ordinary code is read", () => {
  const text = `import okhttp3.CertificatePinner
const val P = "${P1}"
class Net(val debug: Boolean) {
    val a = CertificatePinner.Builder().apply { if (!debug) add("if.example.com", P) }.build()
    val b = CertificatePinner.Builder().apply {
        when (debug) { true -> add("when.example.com", P) else -> {} }
        try { add("try.example.com", P) } catch (e: Exception) {}
        listOf(1).forEach { add("each.example.com", P) }
        add("plain.example.com", P)
        this.add("this.example.com", P)
    }.build()
    val c = if (debug) null else CertificatePinner.Builder().add("else.example.com", P).build()
    val d = pinnerOrNull() ?: CertificatePinner.Builder().add("elvis.example.com", P).build()
    val e = debug && CertificatePinner.Builder().add("and.example.com", P).build() != null
    val f = CertificatePinner.Builder().add("never.example.com", P)
    val g = other?.let { CertificatePinner.Builder().add("let.example.com", P).build() }
    val h by lazy { CertificatePinner.Builder().add("lazy.example.com", P).build() }
    val i = run { CertificatePinner.Builder().add("run.example.com", P).build() }
    val client = OkHttpClient.Builder()
        .certificatePinner(CertificatePinner.Builder().add("arg.example.com", P).build())
        .build()
    fun make(): CertificatePinner {
        val builder = CertificatePinner.Builder()
        builder.add("var.example.com", P)
        if (debug)
            builder.add("nextline.example.com", P)
        for (x in 1..2) builder.add("loop.example.com", P)
        return builder.also { it.add("also.example.com", P) }.build()
    }
}
`;
  const source = read("Net.kt", text);
  assert.deepEqual(hosts(source), [
    "also.example.com",
    "arg.example.com",
    "lazy.example.com",
    "plain.example.com",
    "run.example.com",
    "this.example.com",
    "var.example.com",
  ]);
  assert.deepEqual(uncertain(source), [
    [4, "if.example.com"],
    [6, "when.example.com"],
    [7, "try.example.com"],
    [8, "each.example.com"],
    [12, "else.example.com"],
    [13, "elvis.example.com"],
    [14, "and.example.com"],
    [15, "never.example.com"],
    [16, "let.example.com"],
    [26, "nextline.example.com"],
    [27, "loop.example.com"],
  ]);
  const never = source.findings.find((f) => f.place.line === 15)!;
  assert.match(never.message, /never builds \(no \.build\(\)\)/);
  assert.match(source.findings.find((f) => f.place.line === 4)!.message, /inside an if \(line 4\)/);
});

test("Java: adds inside if, loops, switch, lambdas, ternaries, or on a builder never built are reported", () => {
  const text = `import okhttp3.CertificatePinner;
class Net {
    static final String P = "${P2}";
    static CertificatePinner make(boolean debug, int n) {
        CertificatePinner.Builder b = new CertificatePinner.Builder();
        b.add("plain.example.com", P);
        if (debug) b.add("if.example.com", P);
        if (debug) { b.add("block.example.com", P); } else { b.add("else.example.com", P); }
        while (n-- > 0) b.add("while.example.com", P);
        switch (n) { case 1: b.add("case.example.com", P); break; default: break; }
        try { b.add("try.example.com", P); } finally { }
        Runnable r = () -> b.add("lambda.example.com", P);
        return b.add("chain.example.com", P).build();
    }
    static final CertificatePinner T = DEBUG ? new CertificatePinner.Builder().add("ternary.example.com", P).build() : null;
    static final CertificatePinner S;
    static { S = new CertificatePinner.Builder().add("static.example.com", P).build(); }
    static CertificatePinner.Builder partial() { return new CertificatePinner.Builder().add("partial.example.com", P); }
}
`;
  const source = read("Net.java", text);
  assert.deepEqual(hosts(source), ["chain.example.com", "plain.example.com", "static.example.com"]);
  assert.deepEqual(uncertain(source), [
    [7, "if.example.com"],
    [8, "block.example.com"],
    [8, "else.example.com"],
    [9, "while.example.com"],
    [10, "case.example.com"],
    [11, "try.example.com"],
    [12, "lambda.example.com"],
    [15, "ternary.example.com"],
    [18, "partial.example.com"],
  ]);
});

test("Kotlin: a builder inside 50000 nested run blocks, and 2000 adds in one function, are read quickly", {
  timeout: 60_000,
}, () => {
  const n = 50_000;
  const nested = `import okhttp3.CertificatePinner
val p = ${"run { ".repeat(n)}CertificatePinner.Builder().add("deep.example.com", "${P1}").build()${" }".repeat(n)}
`;
  const started = Date.now();
  assert.deepEqual(hosts(read("Deep.kt", nested)), ["deep.example.com"]);
  const adds = Array.from({ length: 2_000 }, (_, i) => `    b.add("h${i}.example.com", "${P1}", "${P2}")`);
  const many = `import okhttp3.CertificatePinner
fun make(): CertificatePinner {
    val b = CertificatePinner.Builder()
${adds.join("\n")}
    return b.build()
}
`;
  assert.equal(read("Many.kt", many).domains.length, 2_000);
  assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
});
