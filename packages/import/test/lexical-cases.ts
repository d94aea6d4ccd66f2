// Java and Kotlin files whose pins depend on the lexical rules and scopes of the language (review of the CLI
// import: Unicode escapes, templates, shadowed names), with the pins the compiled program builds. The unit
// tests (java-unicode-escapes, kotlin-templates, shadowed-names) hold the import to `runtime`; the interop
// test compiles each file with javac or kotlinc against OkHttp and checks that `runtime` is what it builds.
export const pinOf = (n: number) => `sha256/${Buffer.alloc(32, n).toString("base64")}`;
const [P1, P2, P3, P4] = [pinOf(1), pinOf(2), pinOf(3), pinOf(4)];

export interface LexicalCase {
  file: string;
  text: string;
  /** The classes whose static CertificatePinner fields the compiled program holds. */
  classes: string[];
  /** Host → the pins OkHttp has for it when the program runs (its exact-host patterns only). */
  runtime: Record<string, string[]>;
  /** Hosts keypin cannot read soundly: not imported, reported as unreadable instead. */
  unreadable?: string[];
}

export const javaCases: LexicalCase[] = [
  {
    // The reviewer's file: a \u002a/ ends a block comment, a \u000a ends a line comment.
    file: "PinningConfig.java",
    classes: ["PinningConfig"],
    text: `import okhttp3.CertificatePinner;

public class PinningConfig {
    static final CertificatePinner PINNER = new CertificatePinner.Builder()
        /* old key, retired \\u002a/ .add("api.example.com", "${P1}") /* see ticket 42 */
        .add("api.example.com", "${P2}")
        .build();

    // backup key lives in the vault \\u000a static final CertificatePinner LOGIN = new CertificatePinner.Builder().add("login.example.com", "${P3}").build();
}
`,
    runtime: { "api.example.com": [P1, P2], "login.example.com": [P3] },
  },
  {
    // An escaped backslash begins no escape; several u's are one escape; escapes in names and strings.
    file: "Rules.java",
    classes: ["Rules"],
    text: `import okhttp3.CertificatePinner;

class Rules {
    // an escaped backslash begins no escape: \\\\u000a this stays a comment .add("api.example.com", "${P3}")
    static final String HO\\u0053T = "api\\u002eexample.com";
    static final String caf\\u00e9 = "cdn.example.com";
    static final String PIN = "sha256/\\uuuu0041QEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    static final CertificatePinner PINNER = new CertificatePinner.Builder()
        .add(HOST, PIN)
        .add(café, "\\u0073ha256/AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")
        .build();
}
`,
    runtime: { "api.example.com": [P1], "cdn.example.com": [P2] },
  },
  {
    // A method parameter, a loop variable and a lambda parameter named like a constant hide it.
    file: "Shadow.java",
    classes: ["Shadow"],
    text: `import okhttp3.CertificatePinner;

class Shadow {
    static final String PIN = "${P1}";
    static final String HOST = "login.example.com";
    static CertificatePinner make(final String PIN) {
        return new CertificatePinner.Builder().add("api.example.com", PIN).build();
    }
    static final CertificatePinner PINNER = make("${P2}");
    static final CertificatePinner LOOP;
    static {
        CertificatePinner.Builder b = new CertificatePinner.Builder();
        for (String HOST : new String[] {"cdn.example.com"}) b.add(HOST, "${P3}");
        LOOP = b.build();
    }
    static final java.util.function.Function<String, CertificatePinner> LAMBDA =
        (PIN) -> new CertificatePinner.Builder().add("www.example.com", PIN).build();
    static final CertificatePinner FROM_LAMBDA = LAMBDA.apply("${P4}");
}
`,
    runtime: {
      "api.example.com": [P2],
      "cdn.example.com": [P3],
      "www.example.com": [P4],
    },
    unreadable: ["api.example.com", "cdn.example.com", "www.example.com"],
  },
  {
    // An add inside an if, after a ternary's ?, or on a builder never built: it may not run (review 2, finding 3).
    file: "Cond.java",
    classes: ["Cond"],
    text: `import okhttp3.CertificatePinner;

class Cond {
    static final boolean DEBUG = System.getenv("KEYPIN_NEVER_SET") != null;
    static final CertificatePinner PINNER;
    static {
        CertificatePinner.Builder b = new CertificatePinner.Builder();
        if (DEBUG) b.add("dead.example.com", "${P1}");
        b.add("ok.example.com", "${P3}");
        PINNER = b.build();
    }
    static final CertificatePinner TERNARY =
        DEBUG ? new CertificatePinner.Builder().add("cond.example.com", "${P2}").build() : CertificatePinner.DEFAULT;
    static final CertificatePinner.Builder UNBUILT = new CertificatePinner.Builder().add("unbuilt.example.com", "${P4}");
}
`,
    runtime: { "ok.example.com": [P3] },
    unreadable: ["dead.example.com", "cond.example.com", "unbuilt.example.com"],
  },
];

export const kotlinCases: LexicalCase[] = [
  {
    // The reviewer's file: a '"' inside ${…} is a character, not the end of the string.
    file: "Pinning.kt",
    classes: ["com.example.Pinning"],
    text: `package com.example

import okhttp3.CertificatePinner

object Pinning {
    val QUOTE = "\${'"'}"
    val pinner = CertificatePinner.Builder()
        .add("api.example.com", "${P1}")
        .add("login.example.com", "${P3}")
        .build()
    fun quoted(s: String) = "\${'"'}" + s
    val cdn = CertificatePinner.Builder().add("cdn.example.com", "${P2}").build()
}
`,
    runtime: { "api.example.com": [P1], "login.example.com": [P3], "cdn.example.com": [P2] },
  },
  {
    // A string with an escaped quote inside ${…}.
    file: "Esc.kt",
    classes: ["esc.EscKt"],
    text: `package esc

import okhttp3.CertificatePinner

val a = "\${"\\""}"
val pinner = CertificatePinner.Builder().add("api.example.com", "${P1}").build()
val b = "\${"\\""}"
val other = CertificatePinner.Builder().add("cdn.example.com", "${P2}").build()
`,
    runtime: { "api.example.com": [P1], "cdn.example.com": [P2] },
  },
  {
    // Nested templates, raw strings, comments and braces inside \${…}.
    file: "Nested.kt",
    classes: ["nested.NestedKt"],
    text: `package nested

import okhttp3.CertificatePinner

val a = "\${listOf("}", """"}""").joinToString("\${'$'}{")}"
val b = "\${ /* } " */ 1 }"
val c = "\${"\${"\\"}"}"}" + """\${ "}" }"""
val d = "\${ mapOf(1 to "x").map { (k, v) -> "$k}" } }"
val pinner = CertificatePinner.Builder().add("api.example.com", "${P2}").build()
val login = CertificatePinner.Builder().add("login.example.com", "${P4}").build()
`,
    runtime: { "api.example.com": [P2], "login.example.com": [P4] },
  },
  {
    // A function parameter, a lambda parameter and a loop variable named like a constant hide it.
    file: "Shadow.kt",
    classes: ["com.example.Shadow"],
    text: `package com.example

import okhttp3.CertificatePinner

object Shadow {
    const val PIN = "${P1}"
    const val HOST = "login.example.com"
    fun make(PIN: String) = CertificatePinner.Builder().add("api.example.com", PIN).build()
    val pinner = make("${P2}")
    val lambda = CertificatePinner.Builder().apply { listOf("${P3}").forEach { PIN -> add("cdn.example.com", PIN) } }.build()
    val loop = CertificatePinner.Builder().apply { for (HOST in listOf("www.example.com")) add(HOST, "${P4}") }.build()
}
`,
    runtime: {
      "api.example.com": [P2],
      "cdn.example.com": [P3],
      "www.example.com": [P4],
    },
    unreadable: ["api.example.com", "cdn.example.com", "www.example.com"],
  },
  {
    // An add inside an if or a lambda in the builder's apply block, in dead code, or on a builder never built.
    file: "Cond.kt",
    classes: ["cond.Cond"],
    text: `package cond

import okhttp3.CertificatePinner

object Cond {
    val debug = System.getenv("KEYPIN_NEVER_SET") != null
    val dead = if (false) CertificatePinner.Builder().add("dead.example.com", "${P1}").build() else CertificatePinner.DEFAULT
    val cond = CertificatePinner.Builder().apply { if (debug) add("cond.example.com", "${P2}") }.build()
    val loop = CertificatePinner.Builder().apply {
        emptyList<Int>().forEach { add("loop.example.com", "${P4}") }
        add("ok.example.com", "${P3}")
    }.build()
    val once = run { CertificatePinner.Builder().add("once.example.com", "${P1}").build() }
    val unbuilt = CertificatePinner.Builder().add("unbuilt.example.com", "${P4}")
}
`,
    runtime: { "ok.example.com": [P3], "once.example.com": [P1] },
    unreadable: ["dead.example.com", "cond.example.com", "loop.example.com", "unbuilt.example.com"],
  },
];
