// The catalogue of error codes cannot drift: every code a package throws or names is in it, every entry is
// thrown somewhere, and docs/errors.md lists each with its kind and the packages that throw it.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { errorCodes, errorKindOf, isKeypinErrorCode, type KeypinErrorKind } from "./error-codes.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const codePattern = /ERR_KEYPIN_[A-Z0-9_]+/g;
const kinds: readonly KeypinErrorKind[] = ["input", "usage", "network", "verification", "internal"];

type Source = { file: string; pkg: string; text: string };

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.[cm]?[jt]s$/.test(name) && !/\.test\.[cm]?[jt]s$/.test(name)) out.push(path);
  }
  return out;
}

/** The production sources of every package: packages/<pkg>/src, tests left out. */
function packageSources(): Source[] {
  const sources: Source[] = [];
  for (const pkg of readdirSync(join(root, "packages")).sort()) {
    const src = join(root, "packages", pkg, "src");
    if (!statSync(join(root, "packages", pkg)).isDirectory()) continue;
    let files: string[];
    try {
      files = walk(src, []);
    } catch {
      continue;
    }
    for (const file of files)
      sources.push({ file: relative(root, file), pkg, text: readFileSync(file, "utf8") });
  }
  return sources;
}

/** The documentation that names codes: the READMEs and docs/. */
function docSources(): Source[] {
  const files = [
    "README.md",
    ...readdirSync(join(root, "docs")).map((n) => join("docs", n)),
    ...readdirSync(join(root, "packages")).map((p) => join("packages", p, "README.md")),
  ];
  return files
    .filter((f) => f.endsWith(".md") && statSync(join(root, f), { throwIfNoEntry: false })?.isFile())
    .map((file) => ({ file, pkg: "", text: readFileSync(join(root, file), "utf8") }));
}

/** Code without its comments, so that an example in a doc comment does not count as a throw. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** Where each code is thrown: the literal first argument of `new KeypinError(…)` or of a subclass's `super(…)`. */
function thrownCodes(sources: Source[]): Map<string, Set<string>> {
  const thrown = new Map<string, Set<string>>();
  for (const { text, pkg } of sources) {
    for (const m of withoutComments(text).matchAll(
      /(?:new\s+KeypinError|super)\(\s*"(ERR_KEYPIN_[A-Z0-9_]+)"/g,
    )) {
      const code = m[1]!;
      if (!thrown.has(code)) thrown.set(code, new Set());
      thrown.get(code)!.add(pkg);
    }
  }
  return thrown;
}

/** `new KeypinError(` whose code is not a string literal: the scan could not see what it throws. */
function unreadableThrows(sources: Source[]): string[] {
  const found: string[] = [];
  for (const { file, text } of sources) {
    for (const m of withoutComments(text).matchAll(/new\s+KeypinError\(\s*([^\s,)]*)/g)) {
      if (!/^"ERR_KEYPIN_[A-Z0-9_]+"$/.test(m[1]!)) found.push(`${file}: new KeypinError(${m[1]}`);
    }
  }
  return found;
}

/** Every ERR_KEYPIN_ name that appears (code, comments, messages, docs) but is not in the catalogue. */
function unknownMentions(sources: Source[]): string[] {
  const found: string[] = [];
  for (const { file, text } of sources) {
    text.split("\n").forEach((line, i) => {
      for (const m of line.matchAll(codePattern)) {
        if (!isKeypinErrorCode(m[0])) found.push(`${file}:${i + 1}: ${m[0]}`);
      }
    });
  }
  return found;
}

/** The rows of docs/errors.md's table of codes: code, kind, the packages that throw it. */
function documentedCodes(text: string): Map<string, { kind: string; packages: string[] }> {
  const rows = new Map<string, { kind: string; packages: string[] }>();
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const code = /^`(ERR_KEYPIN_[A-Z0-9_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (code === undefined) continue;
    assert.ok(!rows.has(code), `docs/errors.md lists ${code} twice`);
    rows.set(code, { kind: cells[2] ?? "", packages: (cells[3] ?? "").split(/,\s*/) });
  }
  return rows;
}

describe("the catalogue of error codes", () => {
  const sources = packageSources();
  const thrown = thrownCodes(sources);

  it("reads the sources of every package that throws a KeypinError", () => {
    const packages = new Set(sources.map((s) => s.pkg));
    for (const pkg of ["core", "node", "cli", "export", "expo", "lab"]) assert.ok(packages.has(pkg), pkg);
    // A scan that found nothing would pass every check below.
    assert.ok(thrown.size >= 20, `only ${thrown.size} codes found thrown`);
  });

  it("holds every code thrown in packages/*/src", () => {
    const missing = [...thrown.keys()].filter((code) => !isKeypinErrorCode(code));
    assert.deepEqual(
      missing,
      [],
      "thrown but not in errorCodes (add them to packages/core/src/error-codes.ts)",
    );
  });

  it("holds only codes that some package throws", () => {
    const unused = Object.keys(errorCodes).filter((code) => !thrown.has(code));
    assert.deepEqual(unused, [], "in errorCodes but thrown nowhere (remove them, or throw them)");
  });

  it("sees every throw: each new KeypinError names its code as a literal", () => {
    assert.deepEqual(unreadableThrows(sources), []);
  });

  it("knows every ERR_KEYPIN_ name the sources and the docs mention", () => {
    assert.deepEqual(unknownMentions([...sources, ...docSources()]), []);
  });

  it("gives every code one of the kinds", () => {
    for (const [code, { kind }] of Object.entries(errorCodes)) {
      assert.ok(kinds.includes(kind), `${code}: ${kind}`);
      assert.equal(errorKindOf(code), kind);
    }
    assert.equal(errorKindOf("ERR_KEYPIN_TLS"), undefined);
    assert.equal(errorKindOf("toString"), undefined);
    assert.equal(errorKindOf(undefined), undefined);
  });

  it("is listed in docs/errors.md with each code's kind and the packages that throw it", () => {
    const documented = documentedCodes(readFileSync(join(root, "docs", "errors.md"), "utf8"));
    assert.deepEqual([...documented.keys()].sort(), Object.keys(errorCodes).sort());
    for (const [code, { kind, packages }] of documented) {
      assert.equal(kind, errorKindOf(code), `${code}: the kind in docs/errors.md`);
      for (const pkg of thrown.get(code) ?? []) {
        assert.ok(packages.includes(pkg), `${code} is thrown in ${pkg}, which docs/errors.md does not name`);
      }
    }
  });

  it("links docs/errors.md from the README", () => {
    assert.ok(readFileSync(join(root, "README.md"), "utf8").includes("](docs/errors.md)"));
  });

  // The checks above, against the drift issue 13 found: a list naming a code nothing throws
  // (ERR_KEYPIN_TLS) while a thrown code (ERR_KEYPIN_HANDSHAKE) was missing from it.
  it("would catch a code that nothing throws, a thrown code it lacks, and a code thrown from a variable", () => {
    const drifted: Source[] = [
      {
        file: "cli.ts",
        pkg: "cli",
        text: 'const failureCodes = new Set(["ERR_KEYPIN_CONNECT", "ERR_KEYPIN_TLS"]);',
      },
      { file: "a.ts", pkg: "node", text: 'throw new KeypinError(\n  "ERR_KEYPIN_HANDSHAKES",\n  "m");' },
      { file: "b.ts", pkg: "node", text: "throw new KeypinError(code, message);" },
      {
        file: "c.ts",
        pkg: "node",
        text: '/** new KeypinError("ERR_KEYPIN_CONNECT", "x") */\n// super("ERR_KEYPIN_PARSE")',
      },
    ];
    assert.deepEqual(unknownMentions(drifted), ["cli.ts:1: ERR_KEYPIN_TLS", "a.ts:2: ERR_KEYPIN_HANDSHAKES"]);
    assert.deepEqual([...thrownCodes(drifted).keys()], ["ERR_KEYPIN_HANDSHAKES"]);
    assert.deepEqual(unreadableThrows(drifted), ["b.ts: new KeypinError(code"]);
  });
});
