// React Native options as JavaScript builds them: Node runs each file (node:vm, initializeSslPinning caught) as
// the oracle, and keypin's import must give each host the options Node saw: a key written again keeps the last
// value (a spread, then a property, or a property twice), and a name that a parameter, a block or an in-place
// change may give another value is reported unreadable, not imported with the const's pins.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runInNewContext } from "node:vm";
import { type ImportedSource, importFile } from "@keypin/import";

const b64 = (n: number) => Buffer.alloc(32, n).toString("base64");
const [H1, H2, H3, H4] = [b64(1), b64(2), b64(3), b64(4)];

interface Options {
  includeSubdomains?: boolean;
  publicKeyHashes: string[];
  expirationDate?: string;
}

/** What initializeSslPinning receives when Node runs `text` (every call, later hosts replacing earlier ones). */
function runtime(text: string): Record<string, Options> {
  const seen: Record<string, Options> = {};
  runInNewContext(text, {
    initializeSslPinning: (o: Record<string, Options>) => {
      for (const [host, v] of Object.entries(o)) seen[host] = structuredClone(v);
    },
  });
  return seen;
}

const dayBefore = (date: string) =>
  new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);

/** keypin's import of `text`, in the shape of the runtime options. */
function imported(text: string): { options: Record<string, Options>; source: ImportedSource } {
  const [source] = importFile("pins.js", text).sources;
  const options: Record<string, Options> = {};
  for (const d of source!.domains)
    options[d.domain] = {
      includeSubdomains: d.includeSubdomains,
      publicKeyHashes: d.pins.map((p) => p.pin.slice("sha256/".length)),
      ...(d.expires === undefined ? {} : { expirationDate: d.expires }),
    };
  return { options, source: source! };
}

/** The runtime options as keypin writes them (includeSubdomains false when absent, expiry as the last pinned day). */
function asKeypin(options: Record<string, Options>): Record<string, Options> {
  return Object.fromEntries(
    Object.entries(options).map(([host, o]) => [
      host,
      {
        includeSubdomains: o.includeSubdomains ?? false,
        publicKeyHashes: o.publicKeyHashes,
        ...(o.expirationDate === undefined ? {} : { expirationDate: dayBefore(o.expirationDate) }),
      },
    ]),
  );
}

const overrides: [string, string][] = [
  [
    "the reviewer's file: a spread then publicKeyHashes, and publicKeyHashes and expirationDate written twice",
    `const base = { includeSubdomains: true, publicKeyHashes: ["${H1}", "${H2}"] };
const opts = {
  "api.example.com": { ...base, includeSubdomains: false, publicKeyHashes: ["${H3}", "${H2}"] },
  "cdn.example.com": { publicKeyHashes: ["${H1}", "${H2}"], expirationDate: "2030-01-01", publicKeyHashes: ["${H3}", "${H2}"], expirationDate: "2025-01-01" },
};
initializeSslPinning(opts);
`,
  ],
  [
    "a property then a spread that overrides it; a host written twice in the options",
    `const base = { includeSubdomains: true, publicKeyHashes: ["${H1}", "${H2}"] };
const retired = { publicKeyHashes: ["${H4}", "${H3}"] };
initializeSslPinning({
  "api.example.com": { publicKeyHashes: ["${H3}", "${H4}"], includeSubdomains: false, ...base },
  "cdn.example.com": { ...retired, expirationDate: "2031-05-01" },
  "www.example.com": retired,
  "cdn.example.com": { ...retired, ...base },
});
`,
  ],
];

for (const [name, text] of overrides) {
  test(`React Native: ${name}: keypin imports what JavaScript builds`, () => {
    const { options } = imported(text);
    assert.deepEqual(options, asKeypin(runtime(text)));
  });
}

test("React Native: a key written twice in one object literal is reported: the earlier value is dropped", () => {
  const { source } = imported(overrides[0]![1]);
  const dropped = source.findings.filter((f) => f.kind === "dropped").map((f) => [f.place.line, f.message]);
  assert.equal(dropped.length, 2, JSON.stringify(dropped));
  assert.match(String(dropped[0]![1]), /cdn\.example\.com's "publicKeyHashes" is written again at line 4/);
});

const hidden: [string, string][] = [
  [
    "a function parameter named like the const",
    `const PINS = ["${H1}", "${H2}"];
function setup(PINS) { initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } }); }
setup(["${H3}", "${H4}"]);
`,
  ],
  [
    "a destructured parameter (with a default) named like the const",
    `const PINS = ["${H1}", "${H2}"];
const setup = ({ PINS = ["${H3}", "${H4}"] } = {}) => initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
setup();
`,
  ],
  [
    "a destructured local named like the const",
    `const PINS = ["${H1}", "${H2}"];
const config = { PINS: ["${H3}", "${H4}"] };
{ const { PINS } = config; initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } }); }
`,
  ],
  [
    "a catch parameter named like the const",
    `const PINS = ["${H1}", "${H2}"];
try { throw ["${H3}", "${H4}"]; } catch (PINS) { initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } }); }
`,
  ],
  [
    "a const in a block that does not hold the use, which sees a global",
    `globalThis.PINS = ["${H3}", "${H4}"];
{ const PINS = ["${H1}", "${H2}"]; }
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
  [
    "a const array changed in place (push)",
    `const PINS = ["${H1}"];
PINS.push("${H2}");
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
  [
    "a const object changed in place (a property assigned)",
    `const base = { publicKeyHashes: ["${H1}", "${H2}"] };
base.publicKeyHashes = ["${H3}", "${H4}"];
initializeSslPinning({ "api.example.com": base });
`,
  ],
  [
    "a const object changed by Object.assign",
    `const base = { publicKeyHashes: ["${H1}", "${H2}"] };
Object.assign(base, { publicKeyHashes: ["${H3}", "${H4}"] });
initializeSslPinning({ "api.example.com": { ...base } });
`,
  ],
];

// Changes keypin has no rule for: the const's uses decide (every one a read, or the const is not read).
const changedUnseen: [string, string][] = [
  [
    "an alias changed in place",
    `const PINS = ["${H1}", "${H2}"];
const A = PINS; A.pop();
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
  [
    "a function given the const changes it",
    `const PINS = ["${H1}", "${H2}"];
function f(x) { x.shift(); } f(PINS);
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
  [
    "a member target in array destructuring",
    `const PINS = ["${H1}", "${H2}"];
[PINS[0]] = ["${H3}"];
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
  [
    "a member target in object destructuring",
    `const PINS = ["${H1}", "${H2}"];
({ a: PINS[0] } = { a: "${H3}" });
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
  [
    "an object holding the const changes it",
    `const PINS = ["${H1}", "${H2}"];
const O = { h: PINS }; O.h.pop();
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
  [
    "an optional call changes it",
    `const PINS = ["${H1}", "${H2}"];
[...PINS].pop(); PINS.splice?.(0, 1);
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
  [
    "a method called through a member read of an object",
    `const base = { publicKeyHashes: ["${H1}", "${H2}"] };
Array.prototype.pop.call(base.publicKeyHashes);
initializeSslPinning({ "api.example.com": base });
`,
  ],
  [
    "a spread copy of an object shares its array",
    `const base = { publicKeyHashes: ["${H1}", "${H2}"] };
const copy = { ...base }; copy.publicKeyHashes.pop();
initializeSslPinning({ "api.example.com": base });
`,
  ],
  [
    "a tagged template called on a method (the const is its receiver)",
    `const PINS = ["${H1}", "${H2}"];
PINS.pop\`\`;
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`,
  ],
];

for (const [name, text] of changedUnseen) {
  test(`React Native: ${name}: reported unreadable with the line of the use, not imported with the const's pins`, () => {
    const seen = runtime(text);
    assert.notDeepEqual(seen["api.example.com"]?.publicKeyHashes, [H1, H2], "Node sees the const changed");
    const { options, source } = imported(text);
    const messages = JSON.stringify(source.findings.map((f) => f.message));
    assert.deepEqual(options, {}, messages);
    assert.ok(
      source.findings.some((f) => f.kind === "unreadable" && /is used at line 2 \(/.test(f.message)),
      messages,
    );
  });
}

// Uses that only read: these files are imported with what Node sees.
const onlyRead: [string, string][] = [
  [
    "an alias used only in the options, a spread copy changed, reads of length and members",
    `const PINS = ["${H1}", "${H2}"];
const A = PINS;
const copy = [...PINS]; copy.pop(); [...PINS].reverse();
if (PINS.length < 2 || typeof PINS[0] !== "string") throw new Error(\`\${PINS[1]}\`);
for (const p of PINS) void p;
const hosts = { "api.example.com": { includeSubdomains: true, publicKeyHashes: A } };
initializeSslPinning({ ...hosts, "cdn.example.com": { publicKeyHashes: [...PINS, "${H3}"] } });
`,
  ],
];

for (const [name, text] of onlyRead) {
  test(`React Native: ${name}: keypin imports what Node sees`, () => {
    const { options, source } = imported(text);
    assert.deepEqual(options, asKeypin(runtime(text)), JSON.stringify(source.findings.map((f) => f.message)));
    assert.equal(Object.keys(options).length, 2);
  });
}

for (const [name, text] of hidden) {
  test(`React Native: ${name}: the use is reported unreadable, not imported with the const's pins`, () => {
    const seen = runtime(text);
    assert.ok(seen["api.example.com"] !== undefined);
    const { options, source } = imported(text);
    assert.deepEqual(options, {}, JSON.stringify(source.findings.map((f) => f.message)));
    assert.ok(
      source.findings.some((f) => f.kind === "unreadable"),
      JSON.stringify(source.findings.map((f) => f.message)),
    );
  });
}

test("React Native: a const used inside the function that declares it is still read", () => {
  const text = `const HOST = "api.example.com";
function setup() {
  const hashes = ["${H1}", "${H2}"];
  for (const h of hashes) console.log(h);
  initializeSslPinning({ [HOST]: { includeSubdomains: true, publicKeyHashes: hashes } });
}
setup();
`;
  const { options } = imported(text);
  assert.deepEqual(options, asKeypin(runtime(text.replace("console.log(h)", "void h"))));
  assert.equal(options["api.example.com"]?.publicKeyHashes.length, 2);
});

test("React Native: a const given from name to name 100000 times is refused, without a stack overflow", {
  timeout: 60_000,
}, () => {
  const lines = [`const A0 = ["${H1}", "${H2}"];`];
  for (let i = 1; i < 100_000; i++) lines.push(`const A${i} = A${i - 1};`);
  lines.push(`initializeSslPinning({ "api.example.com": { publicKeyHashes: A0 } });`);
  const { options, source } = imported(lines.join("\n"));
  assert.deepEqual(options, {});
  assert.ok(source.findings.some((f) => /more than 200 times/.test(f.message)));
});

test("React Native: a direct eval may change the array: reported, not imported", () => {
  const text = `const PINS = ["${H1}", "${H2}"];
eval("PINS.pop()");
initializeSslPinning({ "api.example.com": { publicKeyHashes: PINS } });
`;
  assert.deepEqual(runtime(text)["api.example.com"]?.publicKeyHashes, [H1]);
  const { options, source } = imported(text);
  assert.deepEqual(options, {});
  assert.ok(source.findings.some((f) => /a direct eval/.test(f.message)));
});
