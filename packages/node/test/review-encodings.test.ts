// Outside review (issue 12, class 1): encodings where keypin's reading of an issuer may differ from OpenSSL's.
// Shape of every attack: the pinned root P issued C (its key held by the attacker) with one unusual encoding; a rogue
// CA the device trusts issued RI with C's subject and key; the forged leaf for the pinned host is signed by that key.
// Served: [forged, C, RI]. OpenSSL links forged → RI → rogue root when it refuses C as an issuer; a pinned client
// must then refuse too, since the pinned key is not on the path OpenSSL accepted. The forged leaf's AKID names the
// issuer's serial as -1, which C (serial 255) fails in OpenSSL's X509_check_akid, so OpenSSL (and Node's linking)
// never evaluate C's rules: only keypin does, if it links C.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { computePin } from "@keypin/core";
import {
  buildVerifiedPath,
  createPinnedAgent,
  createPinnedDispatcher,
  pinnedTlsOptions,
  sha256,
} from "@keypin/node";
import {
  derTlv,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  startHttpsServer,
  type TestServer,
  toPem,
} from "@keypin/testkit";
import { Agent, fetch } from "undici";

const HOST = "api.keypin.test";
const TOKEN = "Bearer review-encodings-token";
const DAY = 86_400_000;
const now = Date.now();

// --- a small byte-level certificate writer: every extension given as raw bytes -----------------------------------
const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));
const seq = (...p: Uint8Array[]) => derTlv(0x30, cat(...p));
const set = (...p: Uint8Array[]) => derTlv(0x31, cat(...p));
const octets = (b: Uint8Array) => derTlv(0x04, b);
const bytes = (...b: number[]) => Uint8Array.from(b);
function int(n: bigint | number): Uint8Array {
  let hex = BigInt(n).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, "hex");
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.of(0), b]);
  return derTlv(0x02, b);
}
function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const out = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const g = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) g.unshift((v & 0x7f) | 0x80);
    out.push(...g);
  }
  return derTlv(0x06, Uint8Array.from(out));
}
const utc = (d: Date) => derTlv(0x17, Buffer.from(`${d.toISOString().replace(/[-:T]/g, "").slice(2, 14)}Z`));
const cn = (s: string) => seq(set(seq(oid("2.5.4.3"), derTlv(0x0c, Buffer.from(s)))));
/** One extension: OID, optional critical BOOLEAN given as its raw content byte, value bytes. */
const ext = (id: string, value: Uint8Array, critical?: number) =>
  seq(oid(id), ...(critical === undefined ? [] : [derTlv(0x01, bytes(critical))]), octets(value));

interface Key {
  privateKey: import("node:crypto").KeyObject;
  spki: Uint8Array;
  keyId: Uint8Array;
}
function makeKey(): Key {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  return { privateKey, spki, keyId: new Uint8Array(createHash("sha1").update(spki).digest()) };
}
const skid = (k: Key) => ext("2.5.29.14", octets(k.keyId));
const akid = (k: Key) => ext("2.5.29.35", seq(derTlv(0x80, k.keyId)));
const caBasic = ext("2.5.29.19", seq(derTlv(0x01, bytes(0xff))), 0xff);
const caKeyUsage = ext("2.5.29.15", derTlv(0x03, bytes(1, 0x06)), 0xff); // keyCertSign, cRLSign
const serverAuth = ext("2.5.29.37", seq(oid("1.3.6.1.5.5.7.3.1")));
const san = (host: string) => ext("2.5.29.17", seq(derTlv(0x82, Buffer.from(host))));

function certificate(o: {
  serial: bigint | number | Uint8Array;
  subject: Uint8Array;
  issuer: Uint8Array;
  key: Key;
  signer: Key;
  exts: Uint8Array[];
}): Uint8Array {
  const alg = seq(oid("1.2.840.10045.4.3.2"));
  const tbs = seq(
    derTlv(0xa0, int(2)),
    o.serial instanceof Uint8Array ? derTlv(0x02, o.serial) : int(o.serial),
    alg,
    o.issuer,
    seq(utc(new Date(now - 10 * DAY)), utc(new Date(now + 300 * DAY))),
    o.subject,
    o.key.spki,
    derTlv(0xa3, seq(...o.exts)),
  );
  const sig = sign("sha256", tbs, { key: o.signer.privateKey, dsaEncoding: "der" });
  return seq(tbs, alg, derTlv(0x03, cat(bytes(0), sig)));
}

// --- the cast ----------------------------------------------------------------------------------------------------
const keys = { pinnedRoot: makeKey(), rogueRoot: makeKey(), c: makeKey(), leaf: makeKey() };
let serial = 1000;
const root = (name: string, key: Key) =>
  certificate({
    serial: serial++,
    subject: cn(name),
    issuer: cn(name),
    key,
    signer: key,
    exts: [caBasic, caKeyUsage, skid(key)],
  });
const pinnedRoot = root("Pinned Root CA", keys.pinnedRoot);
const rogueRoot = root("Rogue Proxy CA", keys.rogueRoot);
const trust = toPem(pinnedRoot, rogueRoot);
const policy = () => policyOf({ [HOST]: [computePin(keys.pinnedRoot.spki, sha256)] });
const C_NAME = cn("Restricted Sub CA");
const rogueIntermediate = certificate({
  serial: bytes(0xff), // -1: the serial the forged leaf's authorityKeyIdentifier names
  subject: C_NAME,
  issuer: cn("Rogue Proxy CA"),
  key: keys.c,
  signer: keys.rogueRoot,
  exts: [caBasic, caKeyUsage, skid(keys.c), akid(keys.rogueRoot)],
});
/**
 * keyid + authorityCertSerialNumber -1 (02-style content 0xFF). OpenSSL's X509_check_akid compares the serial as an
 * INTEGER, so a C with serial 255 (00 FF) is not the leaf's issuer for OpenSSL and it links RI (serial -1) instead;
 * keypin compares hex without leading zero octets ("FF" = "FF") and links C, the first served.
 */
const akidSerialMinus1 = (k: Key) => ext("2.5.29.35", seq(derTlv(0x80, k.keyId), derTlv(0x82, bytes(0xff))));
const forgedLeaf = (extra: Uint8Array[] = [akidSerialMinus1(keys.c)]) =>
  certificate({
    serial: serial++,
    subject: cn(HOST),
    issuer: C_NAME,
    key: keys.leaf,
    signer: keys.c,
    exts: [san(HOST), serverAuth, skid(keys.leaf), ...extra],
  });
/** C under the pinned root with the given extensions (SKID and AKID added). */
const cUnderPinned = (exts: Uint8Array[], certSerial: bigint | number | Uint8Array = 255) =>
  certificate({
    serial: certSerial,
    subject: C_NAME,
    issuer: cn("Pinned Root CA"),
    key: keys.c,
    signer: keys.pinnedRoot,
    exts: [...exts, skid(keys.c), akid(keys.pinnedRoot)],
  });

// --- the oracle: openssl verify with the same anchors ------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), "keypin-review-"));
let lastOpensslError = "";
function opensslVerifies(leaf: Uint8Array, untrusted: Uint8Array[], anchors: Uint8Array[]): boolean {
  writeFileSync(join(dir, "leaf.pem"), toPem(leaf));
  writeFileSync(join(dir, "untrusted.pem"), toPem(...untrusted));
  writeFileSync(join(dir, "ca.pem"), toPem(...anchors));
  try {
    execFileSync(
      "openssl",
      [
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        join(dir, "ca.pem"),
        "-untrusted",
        join(dir, "untrusted.pem"),
        join(dir, "leaf.pem"),
      ],
      { stdio: "pipe" },
    );
    lastOpensslError = "";
    return true;
  } catch (error) {
    lastOpensslError = String((error as { stderr?: Buffer }).stderr ?? error)
      .trim()
      .split("\n")
      .slice(-2)
      .join(" | ");
    return false;
  }
}

// --- the clients -------------------------------------------------------------------------------------------------
const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});
async function serve(chain: Uint8Array[]): Promise<TestServer> {
  const server = await startHttpsServer({
    key: keys.leaf.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
    cert: toPem(...chain),
  });
  servers.push(server);
  return server;
}
async function unpinnedStatus(server: TestServer): Promise<number> {
  const dispatcher = new Agent({ connect: { ca: trust, lookup: lookupLocal } });
  try {
    const res = await fetch(`https://${HOST}:${server.port}/`, {
      dispatcher,
      headers: { authorization: TOKEN },
    });
    await res.arrayBuffer();
    return res.status;
  } finally {
    await dispatcher.close();
  }
}
/** Each pinned client's outcome: the keypin error code, or "sent" when the request went out. */
async function pinnedOutcomes(server: TestServer): Promise<Record<string, string>> {
  const url = `https://${HOST}:${server.port}/`;
  const out: Record<string, string> = {};
  const dispatcher = createPinnedDispatcher({
    policy: policy(),
    ca: trust,
    connect: { lookup: lookupLocal },
  });
  try {
    const res = await fetch(url, { dispatcher, headers: { authorization: TOKEN } });
    await res.arrayBuffer();
    out.dispatcher = "sent";
  } catch (error) {
    out.dispatcher = keypinCodeOf(error) ?? String(error);
  }
  await dispatcher.close();
  const agent = createPinnedAgent({ policy: policy(), ca: trust, connect: { lookup: lookupLocal } });
  out.agent = await new Promise<string>((resolve) => {
    httpsGet(url, { agent, headers: { authorization: TOKEN } }, (res) => {
      res.resume();
      resolve("sent");
    }).on("error", (e) => resolve(keypinCodeOf(e) ?? String(e)));
  });
  agent.destroy();
  out.tls = await new Promise<string>((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: server.port,
      servername: HOST,
      ...pinnedTlsOptions({ policy: policy(), ca: trust }),
    });
    socket.on("secureConnect", () => {
      socket.end(`GET / HTTP/1.1\r\nhost: ${HOST}\r\nauthorization: ${TOKEN}\r\nconnection: close\r\n\r\n`);
      resolve("sent");
    });
    socket.on("error", (e) => resolve(keypinCodeOf(e) ?? String(e)));
  });
  return out;
}

/**
 * The whole attack for one shape of C: OpenSSL refuses the path through C (oracle), accepts the rogue path (oracle
 * and the unpinned control, which sends the token), and every pinned client must refuse without sending a byte.
 */
async function attack(c: Uint8Array, leaf = forgedLeaf()): Promise<void> {
  assert.equal(opensslVerifies(leaf, [c], [pinnedRoot]), false, "openssl refuses forged → C → pinned root");
  assert.equal(
    opensslVerifies(leaf, [c, rogueIntermediate], [pinnedRoot, rogueRoot]),
    true,
    "openssl accepts",
  );
  const server = await serve([leaf, c, rogueIntermediate]);
  assert.equal(await unpinnedStatus(server), 200, "the unpinned control is fooled");
  assert.equal(server.requests.at(-1)?.headers.authorization, TOKEN);
  const before = server.requests.length;
  const outcomes = await pinnedOutcomes(server);
  for (const [client, outcome] of Object.entries(outcomes))
    assert.match(outcome, /^ERR_KEYPIN_/, `${client} must refuse (got ${outcome})`);
  assert.equal(server.requests.length, before, "no pinned request reached the attacker");
}

describe("review: issuer encodings keypin must read as OpenSSL does", () => {
  test("sanity: C as a plain CA is accepted by openssl under the pinned root (the shape is right)", () => {
    const c = cUnderPinned([caBasic, caKeyUsage]);
    assert.equal(opensslVerifies(forgedLeaf([akid(keys.c)]), [c], [pinnedRoot]), true);
    // and with the leaf's AKID naming serial -1, openssl refuses C but accepts the rogue intermediate (serial -1)
    assert.equal(opensslVerifies(forgedLeaf(), [c], [pinnedRoot]), false);
    assert.equal(opensslVerifies(forgedLeaf(), [c, rogueIntermediate], [pinnedRoot, rogueRoot]), true);
  });

  test("keyUsage whose keyCertSign bit is only in the BIT STRING's unused (padding) bits", async () => {
    // 03 02 03 84: 3 unused bits; 0x80 digitalSignature, 0x04 = keyCertSign but inside the 3 padding bits.
    // OpenSSL's c2i_ASN1_BIT_STRING masks padding bits away: C has keyUsage digitalSignature only.
    const c = cUnderPinned([caBasic, ext("2.5.29.15", derTlv(0x03, bytes(3, 0x84)), 0xff)]);
    await attack(c);
  });

  test("keyUsage with 7 unused bits over 0x84 (keyCertSign in the padding)", async () => {
    // 03 02 07 84: 7 unused bits, so everything but digitalSignature (0x80) is padding for OpenSSL.
    const c = cUnderPinned([caBasic, ext("2.5.29.15", derTlv(0x03, bytes(7, 0x84)), 0xff)]);
    await attack(c);
  });

  test("keyUsage without keyCertSign, DER-correct (regression)", async () => {
    const c = cUnderPinned([caBasic, ext("2.5.29.15", derTlv(0x03, bytes(7, 0x80)), 0xff)]);
    await attack(c);
  });

  test("basicConstraints with cA explicitly FALSE (non-DER default) and keyCertSign", async () => {
    const c = cUnderPinned([ext("2.5.29.19", seq(derTlv(0x01, bytes(0))), 0xff), caKeyUsage]);
    await attack(c);
  });

  test("basicConstraints cA TRUE with a negative pathLenConstraint", async () => {
    const c = cUnderPinned([
      ext("2.5.29.19", seq(derTlv(0x01, bytes(0xff)), derTlv(0x02, bytes(0xff))), 0xff),
      caKeyUsage,
    ]);
    await attack(c);
  });

  test("basicConstraints repeated: cA TRUE then cA absent", async () => {
    const c = cUnderPinned([caBasic, ext("2.5.29.19", seq()), caKeyUsage]);
    await attack(c);
  });

  test("keyUsage repeated: with and without keyCertSign", async () => {
    const c = cUnderPinned([caBasic, ext("2.5.29.15", derTlv(0x03, bytes(7, 0x80))), caKeyUsage]);
    await attack(c);
  });

  test("an unknown extension marked critical with the non-DER BOOLEAN 0x01", async () => {
    const c = cUnderPinned([caBasic, caKeyUsage, ext("1.3.6.1.4.1.55555.7", derTlv(0x05, bytes()), 0x01)]);
    await attack(c);
  });

  test("extendedKeyUsage without serverAuth on C", async () => {
    const c = cUnderPinned([caBasic, caKeyUsage, ext("2.5.29.37", seq(oid("1.3.6.1.5.5.7.3.2")))]);
    await attack(c);
  });

  test("name constraints on C that exclude the host, leaf SAN spelled in upper case", async () => {
    const nc = ext("2.5.29.30", seq(derTlv(0xa1, seq(derTlv(0x82, Buffer.from("keypin.test"))))), 0xff);
    const c = cUnderPinned([caBasic, caKeyUsage, nc]);
    const leaf = certificate({
      serial: serial++,
      subject: cn(HOST),
      issuer: C_NAME,
      key: keys.leaf,
      signer: keys.c,
      exts: [san(HOST.toUpperCase()), serverAuth, skid(keys.leaf), akidSerialMinus1(keys.c)],
    });
    await attack(c, leaf);
  });

  test("name constraints on C that permit only another domain (leading-dot base)", async () => {
    const nc = ext("2.5.29.30", seq(derTlv(0xa0, seq(derTlv(0x82, Buffer.from(".attacker.example"))))), 0xff);
    await attack(cUnderPinned([caBasic, caKeyUsage, nc]));
  });

  test("pathLenConstraint 0 on C, with a CA D under it: forged → D → C → pinned root", async () => {
    const d = makeKey();
    const D_NAME = cn("Deeper CA");
    const c = cUnderPinned([ext("2.5.29.19", seq(derTlv(0x01, bytes(0xff)), int(0)), 0xff), caKeyUsage], 77);
    const dUnderC = certificate({
      serial: 255,
      subject: D_NAME,
      issuer: C_NAME,
      key: d,
      signer: keys.c,
      exts: [caBasic, caKeyUsage, skid(d), akid(keys.c)],
    });
    const dRogue = certificate({
      serial: bytes(0xff),
      subject: D_NAME,
      issuer: cn("Rogue Proxy CA"),
      key: d,
      signer: keys.rogueRoot,
      exts: [caBasic, caKeyUsage, skid(d), akid(keys.rogueRoot)],
    });
    const leaf = certificate({
      serial: serial++,
      subject: cn(HOST),
      issuer: D_NAME,
      key: keys.leaf,
      signer: d,
      exts: [san(HOST), serverAuth, skid(keys.leaf), akidSerialMinus1(d)],
    });
    assert.equal(opensslVerifies(leaf, [dUnderC, c], [pinnedRoot]), false);
    assert.equal(opensslVerifies(leaf, [dUnderC, c, dRogue], [pinnedRoot, rogueRoot]), true);
    const server = await serve([leaf, dUnderC, c, dRogue]);
    assert.equal(await unpinnedStatus(server), 200);
    const before = server.requests.length;
    for (const [client, outcome] of Object.entries(await pinnedOutcomes(server)))
      assert.match(outcome, /^ERR_KEYPIN_/, `${client} must refuse (got ${outcome})`);
    assert.equal(server.requests.length, before);
  });

  test("AKID serial -1 (FF) against C's serial 255 (00 FF), C a proper CA: keypin links C, OpenSSL does not", async () => {
    // The pure linking difference: OpenSSL's path is forged → RI → rogue root; keypin's is forged → C → pinned root.
    await attack(cUnderPinned([caBasic, caKeyUsage]));
  });
});

// --- the path builder alone, against the oracle: whenever keypin returns a path, openssl must accept that path ----
// Node hands keypin only the certificates it linked with X509_check_issued (names, key identifiers, keyUsage read
// by OpenSSL), which is why the end-to-end attacks above fail; the builder itself is held to the oracle here.
const atv = (id: string, value: Uint8Array) => seq(oid(id), value);
const utf8 = (t: string) => derTlv(0x0c, Buffer.from(t, "utf8"));
const printable = (t: string) => derTlv(0x13, Buffer.from(t, "latin1"));
const bmp = (units: number[]) => derTlv(0x1e, Buffer.from(units.flatMap((u) => [u >> 8, u & 255])));
const nameOf = (...rdns: Uint8Array[][]) => seq(...rdns.map((entries) => set(...entries)));

/** keypin's path for [leaf, ...served] under `anchors`, and whether openssl verify accepts exactly that path. */
function differential(served: Uint8Array[], anchors: Uint8Array[]): { keypin: boolean; openssl?: boolean } {
  const path = buildVerifiedPath(served, anchors);
  if (!path) return { keypin: false };
  const anchor = path[path.length - 1]!;
  return { keypin: true, openssl: opensslVerifies(path[0]!, path.slice(1, -1), [anchor]) };
}
/** C under the pinned root, named `cName` (and a given issuer name for the leaf), then the forged leaf under C. */
function pair(o: {
  cSubject: Uint8Array;
  leafIssuer: Uint8Array;
  cExts?: Uint8Array[];
  cSerial?: number;
  leafAkid?: Uint8Array;
}) {
  const c = certificate({
    serial: o.cSerial ?? serial++,
    subject: o.cSubject,
    issuer: cn("Pinned Root CA"),
    key: keys.c,
    signer: keys.pinnedRoot,
    exts: [...(o.cExts ?? [caBasic, caKeyUsage]), skid(keys.c), akid(keys.pinnedRoot)],
  });
  const leaf = certificate({
    serial: serial++,
    subject: cn(HOST),
    issuer: o.leafIssuer,
    key: keys.leaf,
    signer: keys.c,
    exts: [san(HOST), serverAuth, skid(keys.leaf), o.leafAkid ?? akid(keys.c)],
  });
  return [leaf, c];
}
function assertOracle(served: Uint8Array[], label: string): { keypin: boolean; openssl?: boolean } {
  const result = differential(served, [pinnedRoot]);
  if (result.keypin)
    assert.equal(
      result.openssl,
      true,
      `${label}: keypin returned a path openssl refuses (${lastOpensslError})`,
    );
  return result;
}

describe("review: buildVerifiedPath against openssl verify on the exact path", () => {
  test("keyUsage with keyCertSign only in the unused bits (03 02 03 84 and 03 02 07 84)", () => {
    for (const content of [bytes(3, 0x84), bytes(7, 0x84), bytes(3, 0x04)]) {
      const ku = ext("2.5.29.15", derTlv(0x03, content), 0xff);
      const same = cn("Restricted Sub CA");
      assertOracle(
        pair({ cSubject: same, leafIssuer: same, cExts: [caBasic, ku] }),
        `keyUsage ${Buffer.from(content).toString("hex")}`,
      );
    }
  });

  test("authorityKeyIdentifier serial -1 (FF) against an issuer with serial 255 (00 FF)", () => {
    const same = cn("Restricted Sub CA");
    const leafAkid = ext("2.5.29.35", seq(derTlv(0x80, keys.c.keyId), derTlv(0x82, bytes(0xff))));
    assertOracle(pair({ cSubject: same, leafIssuer: same, cSerial: 255, leafAkid }), "akid serial");
  });

  test("authorityKeyIdentifier with an empty keyIdentifier, and with keyid + issuer + serial that match", () => {
    const same = cn("Restricted Sub CA");
    const empty = ext("2.5.29.35", seq(derTlv(0x80, bytes())));
    assert.equal(
      assertOracle(pair({ cSubject: same, leafIssuer: same, leafAkid: empty }), "empty keyid").keypin,
      false,
    );
    const full = ext(
      "2.5.29.35",
      seq(
        derTlv(0x80, keys.c.keyId),
        derTlv(0xa1, derTlv(0xa4, cn("Pinned Root CA"))),
        derTlv(0x82, bytes(0x01, 0x2c)),
      ),
    );
    assert.equal(
      assertOracle(pair({ cSubject: same, leafIssuer: same, cSerial: 300, leafAkid: full }), "full akid")
        .keypin,
      true,
    );
  });

  test("names: string types, case, white space, multi-valued RDNs", (t) => {
    const cases: [string, Uint8Array, Uint8Array][] = [
      [
        "PrintableString vs UTF8String",
        nameOf([atv("2.5.4.3", printable("Sub CA"))]),
        nameOf([atv("2.5.4.3", utf8("Sub CA"))]),
      ],
      [
        "ASCII case and white space",
        nameOf([atv("2.5.4.3", utf8("  SUB\t\tca "))]),
        nameOf([atv("2.5.4.3", utf8("sub ca"))]),
      ],
      ["non-ASCII case", nameOf([atv("2.5.4.3", utf8("CA É"))]), nameOf([atv("2.5.4.3", utf8("CA é"))])],
      [
        "NBSP vs space",
        nameOf([atv("2.5.4.3", utf8("Sub\u00a0CA"))]),
        nameOf([atv("2.5.4.3", utf8("Sub CA"))]),
      ],
      [
        "multi-valued RDN in another order",
        nameOf([atv("2.5.4.3", utf8("Sub")), atv("2.5.4.10", utf8("Org"))]),
        nameOf([atv("2.5.4.10", utf8("Org")), atv("2.5.4.3", utf8("Sub"))]),
      ],
      [
        "multi-valued RDN vs two RDNs",
        nameOf([atv("2.5.4.3", utf8("Sub")), atv("2.5.4.10", utf8("Org"))]),
        nameOf([atv("2.5.4.3", utf8("Sub"))], [atv("2.5.4.10", utf8("Org"))]),
      ],
      [
        "BMPString vs UTF8String (BMP range)",
        nameOf([atv("2.5.4.3", bmp([0x53, 0xe9]))]),
        nameOf([atv("2.5.4.3", utf8("Sé"))]),
      ],
      ["empty name vs empty name", nameOf(), nameOf()],
      [
        "NumericString vs PrintableString",
        nameOf([atv("2.5.4.5", derTlv(0x12, Buffer.from("123")))]),
        nameOf([atv("2.5.4.5", printable("123"))]),
      ],
    ];
    const outcomes: string[] = [];
    for (const [label, leafIssuer, cSubject] of cases) {
      const served = pair({ cSubject, leafIssuer });
      const r = assertOracle(served, label);
      const openssl = opensslVerifies(served[0]!, served.slice(1), [pinnedRoot]);
      outcomes.push(
        `${label}: keypin ${r.keypin ? "path" : "no path"}, openssl ${openssl ? "accepts" : "refuses"}`,
      );
    }
    t.diagnostic(outcomes.join("; "));
  });

  test("names: a BMPString surrogate pair against the same character in a UTF8String", () => {
    const leafIssuer = nameOf([atv("2.5.4.3", bmp([0x53, 0xd83d, 0xde00]))]);
    const cSubject = nameOf([atv("2.5.4.3", utf8("S\u{1f600}"))]);
    assertOracle(pair({ cSubject, leafIssuer }), "BMP surrogate pair vs UTF-8 astral");
  });

  test("basicConstraints cA as BOOLEAN 01, critical flag 01, explicit non-critical 00", () => {
    const same = cn("Restricted Sub CA");
    const shapes = [
      [ext("2.5.29.19", seq(derTlv(0x01, bytes(0x01))), 0x01), caKeyUsage],
      [ext("2.5.29.19", seq(derTlv(0x01, bytes(0xff))), 0x00), caKeyUsage],
      [caBasic, ext("1.3.6.1.4.1.55555.9", derTlv(0x05, bytes()), 0x01)],
      [ext("2.5.29.19", seq(derTlv(0x01, bytes(0xff)), int(2n ** 40n)), 0xff), caKeyUsage],
    ];
    for (const [i, cExts] of shapes.entries())
      assertOracle(pair({ cSubject: same, leafIssuer: same, cExts }), `shape ${i}`);
  });
});

// --- end to end: smuggling an issuer OpenSSL would refuse into Node's linked chain --------------------------------
// Node links the served certificates with X509_check_issued, which asks an issuer for keyCertSign, except when the
// child is a proxy certificate (RFC 3820): then digitalSignature is enough (ossl_x509_signing_allowed). So a served
// proxy certificate X named N, "issued" by Y (also named N), makes Node hand keypin [forged, X, Y, pinned root]
// although Y may not sign certificates. OpenSSL's verifier, trusted first, ends the path at the attacker's
// anchor RA (named N, key = Y's key), which keypin refuses as an anchor for a reason OpenSSL does not have
// (policyConstraints). keypin then links forged → Y → pinned root: the question is how it reads Y's keyUsage.
describe("review: a proxy certificate smuggles a no-keyCertSign issuer into Node's chain", () => {
  // N is a two-valued RDN (CN + O); RA2 carries the same RDN with its values in the other order, which OpenSSL
  // compares equal (canonical SET OF) and keypin does not.
  const N = nameOf([atv("2.5.4.3", utf8("Smuggled Sub CA")), atv("2.5.4.10", utf8("Org"))]);
  const N_REORDERED = nameOf([atv("2.5.4.10", utf8("Org")), atv("2.5.4.3", utf8("Smuggled Sub CA"))]);
  const proxyInfo = ext("1.3.6.1.5.5.7.1.14", seq(seq(oid("1.3.6.1.5.5.7.21.1"))));
  const xKey = makeKey();
  const x = certificate({
    serial: serial++,
    subject: N,
    issuer: N,
    key: xKey,
    signer: keys.c,
    exts: [proxyInfo], // no SKID, no keyUsage, no basicConstraints: a valid proxy certificate for OpenSSL
  });
  const ra = certificate({
    serial: serial++,
    subject: N,
    issuer: N,
    key: keys.c,
    signer: keys.c,
    exts: [caBasic, caKeyUsage, skid(keys.c), ext("2.5.29.36", seq(derTlv(0x81, bytes(0))))],
  });
  /** The attacker's anchor without anything keypin refuses, named N with the RDN's values in the other order. */
  const ra2 = certificate({
    serial: serial++,
    subject: N_REORDERED,
    issuer: N_REORDERED,
    key: keys.c,
    signer: keys.c,
    exts: [caBasic, caKeyUsage, skid(keys.c)],
  });
  const yWith = (ku: Uint8Array) =>
    certificate({
      serial: serial++,
      subject: N,
      issuer: cn("Pinned Root CA"),
      key: keys.c,
      signer: keys.pinnedRoot,
      exts: [caBasic, ext("2.5.29.15", derTlv(0x03, ku), 0xff), skid(keys.c), akid(keys.pinnedRoot)],
    });
  const leaf = certificate({
    serial: serial++,
    subject: cn(HOST),
    issuer: N,
    key: keys.leaf,
    signer: keys.c,
    exts: [san(HOST), serverAuth, skid(keys.leaf), akid(keys.c)],
  });

  async function outcomesWith(ku: Uint8Array, anchor = ra) {
    const y = yWith(ku);
    const trustRa = toPem(pinnedRoot, anchor);
    assert.equal(opensslVerifies(leaf, [y], [pinnedRoot]), false, "openssl refuses forged → Y → pinned root");
    assert.equal(opensslVerifies(leaf, [x, y], [pinnedRoot, anchor]), true, "openssl accepts forged → RA");
    const server = await serve([leaf, x, y]);
    const control = new Agent({ connect: { ca: trustRa, lookup: lookupLocal } });
    const res = await fetch(`https://${HOST}:${server.port}/`, {
      dispatcher: control,
      headers: { authorization: TOKEN },
    });
    await res.arrayBuffer();
    await control.close();
    assert.equal(res.status, 200, "the unpinned control is fooled");
    // Node's linked chain, as keypin receives it
    const linked = await new Promise<string[]>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port: server.port, servername: HOST, ca: trustRa }, () => {
        const names: string[] = [];
        let c = s.getPeerCertificate(true);
        for (let i = 0; i < 6 && c?.raw; i++) {
          names.push(`${c.subject?.CN}<-${c.issuer?.CN}`);
          if (c.issuerCertificate === c) break;
          c = c.issuerCertificate;
        }
        s.destroy();
        resolve(names);
      });
      s.on("error", reject);
    });
    const before = server.requests.length;
    const pinned: Record<string, string> = {};
    const dispatcher = createPinnedDispatcher({
      policy: policy(),
      ca: trustRa,
      connect: { lookup: lookupLocal },
    });
    try {
      const r = await fetch(`https://${HOST}:${server.port}/`, {
        dispatcher,
        headers: { authorization: TOKEN },
      });
      await r.arrayBuffer();
      pinned.dispatcher = "sent";
    } catch (error) {
      pinned.dispatcher = keypinCodeOf(error) ?? String(error);
    }
    await dispatcher.close();
    const agent = createPinnedAgent({ policy: policy(), ca: trustRa, connect: { lookup: lookupLocal } });
    pinned.agent = await new Promise<string>((resolve) => {
      httpsGet(`https://${HOST}:${server.port}/`, { agent, headers: { authorization: TOKEN } }, (r) => {
        r.resume();
        resolve("sent");
      }).on("error", (e) => resolve(keypinCodeOf(e) ?? String(e)));
    });
    agent.destroy();
    pinned.tls = await new Promise<string>((resolve) => {
      const s = tlsConnect({
        host: "127.0.0.1",
        port: server.port,
        servername: HOST,
        ...pinnedTlsOptions({ policy: policy(), ca: trustRa }),
      });
      s.on("secureConnect", () => {
        s.end(`GET / HTTP/1.1\r\nhost: ${HOST}\r\nauthorization: ${TOKEN}\r\nconnection: close\r\n\r\n`);
        resolve("sent");
      });
      s.on("error", (e) => resolve(keypinCodeOf(e) ?? String(e)));
    });
    await new Promise((r) => setTimeout(r, 100));
    return { linked, pinned, leaked: server.requests.length - before };
  }

  test("Y's keyUsage is DER-correct digitalSignature only (regression: keypin refuses Y)", async (t) => {
    const { linked, pinned, leaked } = await outcomesWith(bytes(7, 0x80));
    t.diagnostic(`Node's chain: ${linked.join(" | ")}`);
    assert.ok(
      linked.some((l) => l.startsWith("Smuggled Sub CA<-Pinned Root CA")),
      "Node linked Y",
    );
    for (const [client, outcome] of Object.entries(pinned)) assert.match(outcome, /^ERR_KEYPIN_/, client);
    assert.equal(leaked, 0);
  });

  test("Y's keyUsage sets keyCertSign only in a padding bit (03 02 03 84)", async (t) => {
    const { linked, pinned, leaked } = await outcomesWith(bytes(3, 0x84));
    t.diagnostic(`Node's chain: ${linked.join(" | ")}; pinned: ${JSON.stringify(pinned)}`);
    assert.ok(
      linked.some((l) => l.startsWith("Smuggled Sub CA<-Pinned Root CA")),
      "Node linked Y",
    );
    for (const [client, outcome] of Object.entries(pinned))
      assert.match(outcome, /^ERR_KEYPIN_/, `${client} must refuse (got ${outcome})`);
    assert.equal(leaked, 0, "no pinned request reached the attacker");
  });

  test("the same with an anchor keypin does not find by name (multi-valued RDN in another order)", async (t) => {
    const { linked, pinned, leaked } = await outcomesWith(bytes(3, 0x84), ra2);
    t.diagnostic(`Node's chain: ${linked.join(" | ")}; pinned: ${JSON.stringify(pinned)}`);
    for (const [client, outcome] of Object.entries(pinned))
      assert.match(outcome, /^ERR_KEYPIN_/, `${client} must refuse (got ${outcome})`);
    assert.equal(leaked, 0, "no pinned request reached the attacker");
  });

  test("the reordered anchor with a DER-correct keyUsage on Y (regression: keypin refuses Y)", async () => {
    const { pinned, leaked } = await outcomesWith(bytes(7, 0x80), ra2);
    for (const [client, outcome] of Object.entries(pinned)) assert.match(outcome, /^ERR_KEYPIN_/, client);
    assert.equal(leaked, 0);
  });
});
