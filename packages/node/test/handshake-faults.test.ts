// Issue 12, class 2: nothing inside a handshake can end the process. Node does not catch what checkServerIdentity
// throws, so a certificate OpenSSL accepts and keypin's parser did not (a 5- or 8-byte iPAddress SAN, an unusual
// time encoding, an explicit-curve key, an extension it cannot read) ended the whole pinned client process.
// Every certificate here is made with the openssl command line and checked with `openssl verify`; a real HTTPS
// server on 127.0.0.1 serves it; each pinned client runs in a child process (helpers/handshake-fault-child.ts), which
// must exit normally with a result line. The outcome must be the right verdict (pinned, by the pin openssl computes
// for the leaf; a mismatch listing that pin when another key is pinned) or a typed keypin error. Where OpenSSL itself
// refuses the chain, the handshake fails before keypin runs, exactly as for an unpinned client.
// The control: a plain client whose own checkServerIdentity throws dies on the same server.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import {
  asciiHex,
  type OpensslCert,
  OpensslPki,
  startHttpsServer,
  type TestServer,
  tlv,
} from "@keypin/testkit";

const run = promisify(execFile);
const HOST = "api.keypin.test";
const CHILD = new URL("./helpers/handshake-fault-child.ts", import.meta.url).pathname;

interface Outcome {
  outcome: string;
  verdicts: { verdict: string; pin?: string }[];
  reports: number;
  warnings: number;
  chainPins?: string[];
  reason?: string;
  hiddenBy?: string;
}
interface ChildResult {
  unpinned: string;
  dispatcher: { right: Outcome; wrong: Outcome };
  agent: { right: Outcome; wrong: Outcome };
  tls: { right: Outcome; wrong: Outcome };
}
const CLIENTS = ["dispatcher", "agent", "tls"] as const;

let pki: OpensslPki;
let root: OpensslCert;
let inter: OpensslCert;
const servers: TestServer[] = [];

before(() => {
  pki = new OpensslPki();
  root = pki.root("root", "/CN=keypin faults root");
  inter = pki.ca("inter", { subject: "/CN=keypin faults intermediate", issuer: root });
});
after(async () => {
  for (const server of servers) await server.close();
  pki.remove();
});

async function serve(leaf: OpensslCert, chain: OpensslCert[]): Promise<number> {
  const server = await startHttpsServer({
    key: leaf.key,
    cert: [leaf, ...chain].map((c) => c.pem).join(""),
    handler: (_req, res) => res.end("ok"),
  });
  servers.push(server);
  return server.port;
}

/** Runs the child; it must exit 0 with one RESULT line. */
async function runChild(env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ["--import", "tsx", CHILD], {
    env: { ...process.env, NODE_OPTIONS: "", NODE_EXTRA_CA_CERTS: "", ...env },
    timeout: 20_000,
  });
}

async function connectAll(port: number, pins: string[], throwKind = ""): Promise<ChildResult> {
  const { stdout } = await runChild({
    KP_PORT: String(port),
    KP_CA: root.pem,
    KP_PINS: JSON.stringify(pins),
    KP_THROW: throwKind,
  });
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line, `the child printed no result line:\n${stdout}`);
  return JSON.parse(line.slice("RESULT ".length)) as ChildResult;
}

const LEAF_EXT = [
  "basicConstraints=CA:FALSE",
  "keyUsage=critical,digitalSignature",
  "extendedKeyUsage=serverAuth",
];
const dnsSan = tlv(0x82, asciiHex(HOST));
const sanExt = (...names: string[]) => `subjectAltName=DER:${tlv(0x30, names.join(""))}`;

/** OpenSSL accepts the chain, and every pinned client pins it by openssl's pin of the leaf (and mismatches otherwise). */
async function expectPinned(leaf: OpensslCert, chain: OpensslCert[], throwKind = ""): Promise<ChildResult> {
  const verified = pki.verify(root, leaf, chain);
  assert.ok(verified.ok, `openssl verify refused the chain: ${verified.output}`);
  const pin = pki.pinOf(leaf);
  const result = await connectAll(await serve(leaf, chain), [pin], throwKind);
  assert.equal(result.unpinned, "status 200", "the unpinned control should connect");
  for (const client of CLIENTS) {
    const { right, wrong } = result[client];
    assert.equal(right.outcome, client === "tls" ? "connected" : "status 200", `${client}: ${right.outcome}`);
    assert.deepEqual(right.verdicts, [{ verdict: "pinned", pin }], `${client}: the verdict`);
    assert.equal(wrong.outcome, "ERR_KEYPIN_PIN_MISMATCH", `${client}: ${wrong.outcome}`);
    assert.deepEqual(wrong.verdicts, [{ verdict: "mismatch" }], `${client}: the mismatch verdict`);
    assert.equal(wrong.chainPins?.[0], pin, `${client}: the mismatch lists openssl's pin of the leaf first`);
  }
  return result;
}

/** OpenSSL accepts the served chain, and keypin refuses it with `code` on every client. */
async function expectKeypinError(
  leaf: OpensslCert,
  chain: OpensslCert[],
  code: string,
): Promise<ChildResult> {
  const verified = pki.verify(root, leaf, chain);
  assert.ok(verified.ok, `openssl verify refused the chain: ${verified.output}`);
  const result = await connectAll(await serve(leaf, chain), [pki.pinOf(leaf)]);
  assert.equal(result.unpinned, "status 200", "the unpinned control should connect");
  for (const client of CLIENTS)
    for (const which of ["right", "wrong"] as const)
      assert.equal(result[client][which].outcome, code, `${client} (${which} pin)`);
  return result;
}

/** OpenSSL refuses the chain (`openssl verify` too): every client fails as the unpinned one does, before keypin runs. */
async function expectOpensslRefusal(
  leaf: OpensslCert,
  chain: OpensslCert[],
  expected: RegExp,
): Promise<void> {
  const verified = pki.verify(root, leaf, chain);
  assert.equal(verified.ok, false, "openssl verify accepted the chain");
  const result = await connectAll(await serve(leaf, chain), [pki.pinOf(leaf)]);
  assert.match(result.unpinned, expected);
  for (const client of CLIENTS)
    for (const which of ["right", "wrong"] as const) {
      assert.equal(result[client][which].outcome, result.unpinned, `${client} (${which} pin)`);
      assert.deepEqual(
        result[client][which].verdicts,
        [],
        "keypin gave a verdict on a chain OpenSSL refused",
      );
    }
}

/**
 * OpenSSL 3.5 (Node 22 and 24) refuses to parse these time forms at all ("utctime is too short"), where OpenSSL 3.0
 * (Node 20) reads them: then no Node client can receive such a certificate and there is no handshake to test. Says
 * so, after checking that this Node's parser really refuses it.
 */
function unreadableHere(t: { diagnostic(message: string): void }, ...certs: OpensslCert[]): boolean {
  const refused = certs.filter((cert) => {
    try {
      new X509Certificate(cert.pem);
      return false;
    } catch (error) {
      assert.match(String((error as Error).message), /asn1|time|PEM/i);
      return true;
    }
  });
  if (refused.length === 0) return false;
  t.diagnostic(
    `OpenSSL ${process.versions.openssl} cannot parse ${refused.map((c) => c.name).join(", ")}: no handshake can carry it`,
  );
  return true;
}

/** A leaf from `openssl x509 -req -extfile` with the given extension lines. */
const leafWith = (name: string, ext: string[], extra: Partial<Parameters<OpensslPki["issue"]>[1]> = {}) =>
  pki.issue(name, { subject: `/CN=${HOST}`, issuer: inter, ext, ...extra });

// ---- genconf: exact tbsCertificates ----

type Rdn = [attribute: string, value: string];
const NOW = Date.now();
const BEFORE = new Date(NOW - 86400_000);
const AFTER = new Date(NOW + 20 * 86400_000);
const digits = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
const TIMES = {
  utc: (d: Date) => `UTC:${digits(d).slice(2)}Z`,
  utcNoSeconds: (d: Date) => `UTC:${digits(d).slice(2, 12)}Z`,
  utcOffset: (d: Date) => `UTC:${digits(new Date(d.getTime() + 90 * 60_000)).slice(2)}+0130`,
  generalized: (d: Date) => `GENTIME:${digits(d)}Z`,
  generalizedFraction: (d: Date) => `GENTIME:${digits(d)}.25Z`,
};

function nameSection(section: string, rdns: Rdn[]): string {
  const lines = [`[${section}]`, ...rdns.map((_, i) => `rdn${i}=SET:${section}_rdn${i}`)];
  rdns.forEach(([attribute, value], i) => {
    lines.push(`[${section}_rdn${i}]`, `atv=SEQUENCE:${section}_atv${i}`);
    lines.push(`[${section}_atv${i}]`, `oid=OID:${attribute}`, `value=${value}`);
  });
  return `${lines.join("\n")}\n`;
}

let serial = 0x5000;
/** A certificate whose every byte of tbsCertificate comes from `openssl asn1parse -genconf`. */
function genconfCert(
  name: string,
  options: {
    subject: Rdn[];
    issuer: Rdn[];
    signer: OpensslCert;
    notBefore?: string;
    notAfter?: string;
    /** Extension (OID name, DER value hex, critical). */
    extensions: [string, string, boolean?][];
    keyFile?: string;
  },
): OpensslCert {
  const keyFile = options.keyFile ?? pki.key(name);
  const exts = options.extensions;
  const sections = [
    "[tbs]",
    "version=EXPLICIT:0,INTEGER:2",
    `serial=INTEGER:${serial++}`,
    "sigalg=SEQUENCE:sigalg",
    "issuer=SEQUENCE:issuer",
    "validity=SEQUENCE:validity",
    "subject=SEQUENCE:subject",
    "spki=SEQUENCE:spki",
    "extensions=EXPLICIT:3,SEQUENCE:extensions",
    "[sigalg]",
    "oid=OID:ecdsa-with-SHA256",
    "[validity]",
    `notBefore=${options.notBefore ?? TIMES.utc(BEFORE)}`,
    `notAfter=${options.notAfter ?? TIMES.utc(AFTER)}`,
    "[extensions]",
    ...exts.map((_, i) => `ext${i}=SEQUENCE:ext${i}`),
    ...exts.flatMap(([oid, hex, critical], i) => [
      `[ext${i}]`,
      `oid=OID:${oid}`,
      ...(critical ? ["critical=BOOLEAN:TRUE"] : []),
      `value=FORMAT:HEX,OCTETSTRING:${hex}`,
    ]),
    "",
  ].join("\n");
  return pki.genconf(name, {
    sections:
      sections +
      nameSection("issuer", options.issuer) +
      nameSection("subject", options.subject) +
      pki.spkiSection("spki", keyFile),
    signer: options.signer,
    keyFile,
    subject: JSON.stringify(options.subject),
  });
}

const INTER_NAME: Rdn[] = [["commonName", "UTF8:keypin faults intermediate"]];
const ROOT_NAME: Rdn[] = [["commonName", "UTF8:keypin faults root"]];
const LEAF_EXTENSIONS: [string, string, boolean?][] = [
  ["basicConstraints", "3000"],
  ["keyUsage", "03020780", true],
  ["extendedKeyUsage", tlv(0x30, "06082b06010505070301")],
  ["subjectAltName", tlv(0x30, dnsSan)],
];
const genconfLeaf = (
  name: string,
  options: { notBefore?: string; notAfter?: string; subject?: Rdn[] } = {},
) =>
  genconfCert(name, {
    subject: options.subject ?? [["commonName", `UTF8:${HOST}`]],
    issuer: INTER_NAME,
    signer: inter,
    extensions: LEAF_EXTENSIONS,
    ...options,
  });
/** A copy of the intermediate (same name, same key, same key id) signed by the root, with other validity encodings. */
const intermediateCopy = (name: string, notBefore: string, notAfter: string) =>
  genconfCert(name, {
    subject: INTER_NAME,
    issuer: ROOT_NAME,
    signer: root,
    keyFile: inter.keyFile,
    notBefore,
    notAfter,
    extensions: [
      ["basicConstraints", "30030101ff", true],
      ["keyUsage", "03020106", true],
    ],
  });

describe("certificates OpenSSL accepts are pinned by openssl's pin, in a process that lives on", () => {
  test("a leaf with a 5-byte iPAddress SAN next to the right DNS name", async () => {
    await expectPinned(leafWith("ip5", [...LEAF_EXT, sanExt(dnsSan, tlv(0x87, "7f00000101"))]), [inter]);
  });

  test("a leaf with an 8-byte iPAddress SAN (an address and a mask) next to the right DNS name", async () => {
    await expectPinned(leafWith("ip8", [...LEAF_EXT, sanExt(dnsSan, tlv(0x87, "7f000001ffffffff"))]), [
      inter,
    ]);
  });

  test("a leaf with iPAddress SANs of 0, 1, 3, 17 and 32 bytes around the right DNS name", async () => {
    const odd = ["", "7f", "7f0000", "00".repeat(17), "ff".repeat(32)].map((hex) => tlv(0x87, hex));
    await expectPinned(leafWith("ipodd", [...LEAF_EXT, sanExt(odd[0]!, odd[1]!, dnsSan, ...odd.slice(2))]), [
      inter,
    ]);
  });

  test("a leaf whose validity is GeneralizedTime before 2050 (RFC 5280 asks for UTCTime)", async () => {
    const leaf = genconfLeaf("gentime", {
      notBefore: TIMES.generalized(BEFORE),
      notAfter: TIMES.generalized(AFTER),
    });
    assert.match(pki.print(leaf, "-enddate"), /GMT$/);
    await expectPinned(leaf, [inter]);
  });

  test("a leaf whose subject is 100 attributes long (about 7 KB)", async () => {
    const ous = Array.from({ length: 100 }, (_, i) => `/OU=${String(i).padStart(3, "0")}${"x".repeat(57)}`);
    await expectPinned(
      leafWith("long", [...LEAF_EXT, sanExt(dnsSan)], { subject: `/CN=${HOST}${ous.join("")}` }),
      [inter],
    );
  });

  test("a leaf whose subject holds a BMPString, a UniversalString and a TeletexString", async () => {
    const leaf = genconfLeaf("strings", {
      subject: [
        ["commonName", `UTF8:${HOST}`],
        ["organizationName", "FORMAT:UTF8,BMPSTRING:keypin Ωmega ☃"],
        ["organizationalUnitName", "FORMAT:UTF8,UNIVERSALSTRING:keypin 𝄞 clef"],
        ["localityName", "FORMAT:UTF8,T61STRING:Zürich café"],
      ],
    });
    assert.match(
      pki.run(["asn1parse", "-in", leaf.pemFile]),
      /BMPSTRING[\s\S]*UNIVERSALSTRING[\s\S]*T61STRING/,
    );
    await expectPinned(leaf, [inter]);
  });

  test("a chain whose intermediate subject is a BMPString and whose leaf names it in a UTF8String", async () => {
    const bmpName: Rdn[] = [["commonName", "BMPSTRING:keypin faults bmp intermediate"]];
    const bmpInter = genconfCert("bmpinter", {
      subject: bmpName,
      issuer: ROOT_NAME,
      signer: root,
      extensions: [
        ["basicConstraints", "30030101ff", true],
        ["keyUsage", "03020106", true],
      ],
    });
    const leaf = genconfCert("bmpleaf", {
      subject: [["commonName", `UTF8:${HOST}`]],
      issuer: [["commonName", "UTF8:keypin faults bmp intermediate"]],
      signer: bmpInter,
      extensions: LEAF_EXTENSIONS,
    });
    await expectPinned(leaf, [bmpInter]);
  });

  for (const [label, ext] of [
    ["a basicConstraints with a junk byte after its value", "basicConstraints=DER:300000"],
    ["a keyUsage with a junk byte after its BIT STRING", "keyUsage=DER:0302078000"],
    ["an unknown extension whose content is not DER", "1.2.3.4=DER:ff"],
    ["a truncated Certificate Transparency SCT list", "1.3.6.1.4.1.11129.2.4.2=DER:0403ffff"],
    ["an authorityInfoAccess of the wrong type", "authorityInfoAccess=DER:0500"],
    ["a subjectKeyIdentifier of the wrong type", "subjectKeyIdentifier=DER:0500"],
  ] as const) {
    test(`a leaf with ${label} (non-critical; OpenSSL reads past it)`, async () => {
      const name = `junk-${label.replace(/\W+/g, "-")}`;
      const keyUsage = ext.startsWith("keyUsage") ? [] : ["keyUsage=critical,digitalSignature"];
      const base = ["basicConstraints=CA:FALSE", ...keyUsage, "extendedKeyUsage=serverAuth"];
      const leafExt = ext.startsWith("basicConstraints") ? base.slice(1) : base;
      await expectPinned(leafWith(name, [...leafExt, sanExt(dnsSan), ext]), [inter]);
    });
  }

  test("an intermediate with a junk byte after its keyUsage (the rule keyCertSign is still read)", async () => {
    const junkInter = pki.issue("junkinter", {
      subject: "/CN=keypin faults junk intermediate",
      issuer: root,
      ext: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,DER:030201060000"],
    });
    const leaf = pki.issue("junkinterleaf", {
      subject: `/CN=${HOST}`,
      issuer: junkInter,
      ext: [...LEAF_EXT, sanExt(dnsSan)],
    });
    await expectPinned(leaf, [junkInter]);
  });
});

describe("a served certificate OpenSSL does not use but Node links is refused with a typed error, not a crash", () => {
  for (const [label, notBefore, notAfter] of [
    ["UTCTime without seconds", TIMES.utcNoSeconds(BEFORE), TIMES.utcNoSeconds(AFTER)],
    ["UTCTime with a +hhmm offset", TIMES.utcOffset(BEFORE), TIMES.utcOffset(AFTER)],
    [
      "GeneralizedTime with fractional seconds",
      TIMES.generalizedFraction(BEFORE),
      TIMES.generalizedFraction(AFTER),
    ],
  ] as const) {
    test(`a copy of the intermediate with ${label}, served first: refused as ERR_KEYPIN_UNTRUSTED_CHAIN because OpenSSL's verifier rejects that time form, so the copy hides the path`, async (t) => {
      const copy = intermediateCopy(`copy-${label.replace(/\W+/g, "-")}`, notBefore, notAfter);
      const leaf = leafWith(`copyleaf-${label.replace(/\W+/g, "-")}`, [...LEAF_EXT, sanExt(dnsSan)]);
      if (unreadableHere(t, copy)) return;
      const alone = pki.verify(root, leaf, [copy]);
      assert.equal(alone.ok, false, "openssl verify accepted the path through the copy");
      assert.match(alone.output, /format error in certificate's not(Before|After) field/);
      const result = await expectKeypinError(leaf, [copy, inter], "ERR_KEYPIN_UNTRUSTED_CHAIN");
      for (const client of CLIENTS) {
        assert.equal(result[client].right.reason, "rules", client);
        assert.equal(result[client].right.hiddenBy, "CN=keypin faults intermediate", client);
      }
    });
  }
});

describe("certificates OpenSSL refuses fail the handshake before keypin runs, as for an unpinned client", () => {
  for (const [label, notBefore, notAfter] of [
    ["UTCTime without seconds", TIMES.utcNoSeconds(BEFORE), TIMES.utcNoSeconds(AFTER)],
    ["UTCTime with a +hhmm offset", TIMES.utcOffset(BEFORE), TIMES.utcOffset(AFTER)],
    [
      "GeneralizedTime with fractional seconds",
      TIMES.generalizedFraction(BEFORE),
      TIMES.generalizedFraction(AFTER),
    ],
  ] as const) {
    test(`a leaf whose validity is ${label}`, async (t) => {
      const leaf = genconfLeaf(`time-${label.replace(/\W+/g, "-")}`, { notBefore, notAfter });
      if (unreadableHere(t, leaf)) return;
      assert.match(pki.print(leaf, "-enddate"), /^notAfter=.* GMT$/);
      await expectOpensslRefusal(leaf, [inter], /^ERROR_IN_CERT_NOT_(BEFORE|AFTER)_FIELD$/);
    });
  }

  test("a leaf with an explicit-curve EC key (ecparam -param_enc explicit)", async () => {
    const leaf = leafWith("explicitleaf", [...LEAF_EXT, sanExt(dnsSan)], { keyKind: "explicit-p256" });
    await expectOpensslRefusal(leaf, [inter], /./);
  });

  test("an intermediate with an explicit-curve EC key", async () => {
    const explicitInter = pki.ca("explicitinter", {
      subject: "/CN=keypin faults explicit intermediate",
      issuer: root,
      keyKind: "explicit-p256",
    });
    const leaf = pki.issue("explicitinterleaf", {
      subject: `/CN=${HOST}`,
      issuer: explicitInter,
      ext: [...LEAF_EXT, sanExt(dnsSan)],
    });
    await expectOpensslRefusal(leaf, [explicitInter], /./);
  });

  test("an explicit-curve copy of the intermediate (same key, same key id) served before the genuine one (OpenSSL picks the copy and refuses it)", async () => {
    const explicitKey = pki.file("inter-explicit.key");
    pki.run(["ec", "-in", inter.keyFile, "-param_enc", "explicit", "-out", explicitKey]);
    const keyId = pki
      .run(["x509", "-in", inter.pemFile, "-noout", "-ext", "subjectKeyIdentifier"])
      .split("\n")[1]!
      .trim();
    const copy = pki.issue("explicitcopy", {
      subject: "/CN=keypin faults intermediate",
      issuer: root,
      keyFile: explicitKey,
      ext: [
        "basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign",
        `subjectKeyIdentifier=${keyId}`,
      ],
    });
    assert.match(pki.run(["x509", "-in", copy.pemFile, "-noout", "-text"]), /Field Type: prime-field/);
    const leaf = leafWith(
      "explicitcopyleaf",
      [...LEAF_EXT, sanExt(dnsSan), "authorityKeyIdentifier=keyid"],
      {},
    );
    assert.match(pki.verify(root, leaf, [copy, inter]).output, /explicit ECC parameters/);
    await expectOpensslRefusal(leaf, [copy, inter], /./);
  });
  test("a leaf whose non-critical basicConstraints is a NULL (OpenSSL marks the certificate invalid)", async () => {
    await expectOpensslRefusal(
      leafWith("bcnull", [...LEAF_EXT.slice(1), sanExt(dnsSan), "basicConstraints=DER:0500"]),
      [inter],
      /^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/,
    );
  });
});

describe("listeners that throw cannot end the process or change the verdict", () => {
  for (const kind of ["error", "string", "null", "message-getter", "no-prototype"]) {
    test(`onVerdict, onReport and onWarning all throw (${kind}): pinned stays pinned, a mismatch stays a mismatch`, async () => {
      const leaf = leafWith(`listener-${kind}`, [...LEAF_EXT, sanExt(dnsSan, tlv(0x87, "7f00000101"))]);
      const result = await expectPinned(leaf, [inter], kind);
      assert.equal(result.dispatcher.wrong.reports, 1, "onReport was called with the mismatch report");
    });
  }
});

describe("control: without keypin's wrapper, a throwing checkServerIdentity ends the process", () => {
  test("a plain tls.connect client whose check throws on the 5-byte IP SAN dies; the pinned clients live", async () => {
    const leaf = leafWith("control", [...LEAF_EXT, sanExt(dnsSan, tlv(0x87, "7f00000101"))]);
    const port = await serve(leaf, [inter]);
    const naive = await runChild({ KP_MODE: "naive", KP_PORT: String(port), KP_CA: root.pem }).then(
      () => assert.fail("the naive client's process survived its throwing checkServerIdentity"),
      (error: { code?: number; stdout: string; stderr: string }) => error,
    );
    assert.notEqual(naive.code, 0);
    assert.match(naive.stderr, /cannot read the IP address SAN/);
    assert.doesNotMatch(naive.stdout, /RESULT/);
    const pinned = await connectAll(port, [pki.pinOf(leaf)]);
    assert.equal(pinned.dispatcher.right.outcome, "status 200");
  });
});
