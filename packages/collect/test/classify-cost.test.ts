// Bounded classification cost (threat model pitfall 15; review): a report chooses its chain, and the collector
// verified every link of it. RSA-3072 keys with a 3071-bit public exponent cost ~8 ms a verification (OpenSSL
// caps the exponent only above 3072 bits), so 16 linked certificates in a 32 KB report took ~125 ms of the event
// loop, with no login, and fresh keys missed the link cache. Now a key no TLS client verifies with is refused
// (not verified), a validated chain longer than any TLS path is not link-checked, a report's checks are capped by
// their cost, and each client has a signature-check budget per minute (then 429). Each test counts the real
// verifications (X509Certificate.prototype.verify, which classify calls) over real HTTP.
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  DEFAULT_SIGNATURE_COST_PER_MINUTE,
  MAX_CHECKED_CHAIN,
  MAX_REPORT_SIGNATURE_COST,
  openSqliteStore,
  type ReportStore,
  startCollector,
} from "@keypin/collect";
import {
  buildCertificate,
  createChain,
  type DerKey,
  derTlv,
  makeTempDir,
  toPem,
  unrelatedPin,
} from "@keypin/testkit";
import { type Answer, post, trustKitAndroidReport } from "./helpers.js";

/** Every X509Certificate.verify in this process (the collector runs in it), counted. */
let verifications = 0;
const realVerify = X509Certificate.prototype.verify;
before(() => {
  X509Certificate.prototype.verify = function (this: X509Certificate, key) {
    verifications += 1;
    return realVerify.call(this, key);
  };
});
after(() => {
  X509Certificate.prototype.verify = realVerify;
});

/** The verifications `run` caused. */
async function counted<T>(run: () => Promise<T>): Promise<{ value: T; verifications: number }> {
  const before = verifications;
  const value = await run();
  return { value, verifications: verifications - before };
}

const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));
const seq = (...parts: Uint8Array[]) => derTlv(0x30, cat(...parts));
const uint = (b: Uint8Array) => derTlv(0x02, (b[0] as number) & 0x80 ? cat(Uint8Array.of(0), b) : b);
const oid = (hex: string) => derTlv(0x06, Buffer.from(hex, "hex"));
const cn = (name: string) => seq(derTlv(0x31, seq(oid("550403"), derTlv(0x0c, Buffer.from(name)))));
/** A random positive serial number whose DER is minimal (a leading 0x00 byte made 1 in 256 of them malformed). */
const serial = () => {
  const bytes = randomBytes(8);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return bytes;
};
const SHA256_RSA = seq(oid("2a864886f70d01010b"), Buffer.from("0500", "hex"));

/**
 * The review's report: `length` certificates that link by name and key identifier (so checkIssued passes and
 * the signature is what decides), each key RSA-3072 with a random 3071-bit public exponent, each signature a
 * number just below the issuer's modulus (a full modular exponentiation, then a mismatch). The leaf is for `host`.
 */
function hugeExponentChain(host: string, length = 16): string[] {
  const keys = Array.from({ length }, () => {
    const n = randomBytes(384);
    n[0] = (n[0] as number) | 0x80;
    n[383] = (n[383] as number) | 1;
    const e = randomBytes(384);
    e[0] = ((n[0] as number) >> 1) | 0x40; // below n, 3071 bits
    e[383] = (e[383] as number) | 1;
    const spki = seq(
      seq(oid("2a864886f70d010101"), Buffer.from("0500", "hex")),
      derTlv(0x03, cat(Uint8Array.of(0), seq(uint(n), uint(e)))),
    );
    return { n, spki, id: createHash("sha1").update(spki).digest() };
  });
  const tag = randomBytes(4).toString("hex");
  return keys.map((key, i) => {
    const issuer = Math.min(i + 1, length - 1);
    const signer = keys[issuer] as (typeof keys)[number];
    const extensions = [
      seq(oid("551d0e"), derTlv(0x04, derTlv(0x04, key.id))),
      seq(oid("551d23"), derTlv(0x04, seq(derTlv(0x80, signer.id)))),
      i === 0
        ? seq(oid("551d11"), derTlv(0x04, seq(derTlv(0x82, Buffer.from(host)))))
        : seq(oid("551d13"), Buffer.from("0101ff", "hex"), derTlv(0x04, seq(Buffer.from("0101ff", "hex")))),
    ];
    const tbs = seq(
      derTlv(0xa0, uint(Uint8Array.of(2))),
      uint(serial()),
      SHA256_RSA,
      cn(`c${issuer}-${tag}`),
      seq(derTlv(0x17, Buffer.from("250101000000Z")), derTlv(0x17, Buffer.from("350101000000Z"))),
      cn(`c${i}-${tag}`),
      key.spki,
      derTlv(0xa3, seq(...extensions)),
    );
    const signature = Buffer.from(signer.n);
    signature[0] = 0x01;
    return toPem(seq(tbs, SHA256_RSA, derTlv(0x03, cat(Uint8Array.of(0), signature))));
  });
}

function ecKey(namedCurve: "P-256" | "P-521"): DerKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  return { privateKey, spki, keyId: new Uint8Array(createHash("sha1").update(spki).digest()) };
}

/**
 * A real chain of `length` certificates, leaf first (for `host`), every signature valid: each CA's key signs the
 * certificate below it, the last one is self-signed.
 */
function ecChain(host: string, length: number, curve: "P-256" | "P-521" = "P-256"): string[] {
  const keys = Array.from({ length }, () => ecKey(curve));
  const tag = randomBytes(4).toString("hex");
  const now = Date.now();
  return keys.map((key, i) => {
    const issuer = Math.min(i + 1, length - 1);
    return toPem(
      buildCertificate({
        serial: i + 1,
        subject: i === 0 ? host : `ca ${i} ${tag}`,
        issuer: i === length - 1 ? `ca ${i} ${tag}` : `ca ${issuer} ${tag}`,
        key,
        signer: keys[issuer] as DerKey,
        notBefore: new Date(now - 86_400_000),
        notAfter: new Date(now + 86_400_000),
        ...(i === 0 ? { dns: [host] } : { basicConstraints: { ca: true } }),
      }),
    );
  });
}

const reportOf = (host: string, chain: string[]): string =>
  JSON.stringify({
    hostname: host,
    "noted-hostname": host,
    "known-pins": [`pin-sha256="${unrelatedPin().slice(7)}"`],
    "validated-certificate-chain": chain,
  });

let temp: ReturnType<typeof makeTempDir>;
let store: ReportStore;
before(async () => {
  temp = makeTempDir("keypin-classify-cost-");
  store = await openSqliteStore(join(temp.dir, "r.db"));
});
after(async () => {
  await store.close();
  temp[Symbol.dispose]();
});

test("a report of 16 huge-exponent RSA keys is classified without one signature check; a plain report still checks its links", async () => {
  const collector = await startCollector({ store });
  try {
    const host = "victim.cost.keypin.test";
    const plain = await createChain("p256", [host], "cost plain");
    const control = await counted(() =>
      post(collector.url, JSON.stringify(trustKitAndroidReport(plain, host, 443, [unrelatedPin()]))),
    );
    assert.equal(control.value.status, 201);
    assert.equal(control.value.json.classification, "interception", "a plain report, classified as before");
    assert.equal(control.verifications, 2, "leaf ← intermediate ← root: two links checked");

    const crafted = hugeExponentChain(host);
    const body = reportOf(host, crafted);
    assert.ok(body.length < 40_000, `${body.length} bytes`);
    const attack = await counted(() => post(collector.url, body));
    assert.equal(attack.value.status, 201);
    assert.equal(attack.value.json.classification, "misconfiguration");
    assert.equal(attack.verifications, 0, "no key of the chain is one a TLS client verifies with");
    // The same chain of 9 (a path a TLS client could take): refused key by key, still nothing verified.
    const nine = await counted(() => post(collector.url, reportOf(host, hugeExponentChain(host, 9))));
    assert.equal(nine.value.json.classification, "misconfiguration");
    const group = (await store.groups({ host })).find((g) => g.key === nine.value.json.group);
    assert.match(String(group?.evidence), /3071-bit public exponent .*was not checked/);
    assert.equal(nine.verifications, 0);
  } finally {
    await collector.close();
  }
});

test(`a validated chain of more than ${MAX_CHECKED_CHAIN} certificates is not link-checked; one of ${MAX_CHECKED_CHAIN}, all valid, is checked and classified as before`, async () => {
  const collector = await startCollector({ store });
  try {
    const host = "long.cost.keypin.test";
    const long = await counted(() => post(collector.url, reportOf(host, ecChain(host, 16))));
    assert.equal(long.value.status, 201);
    assert.equal(long.value.json.classification, "misconfiguration");
    assert.equal(long.verifications, 0, "16 linked certificates: before, 15 verifications");
    const group = (await store.groups({ host })).find((g) => g.key === long.value.json.group);
    assert.match(String(group?.evidence), /has 16 certificates; no TLS path is longer than 9/);

    const longest = await counted(() =>
      post(collector.url, reportOf(host, ecChain(host, MAX_CHECKED_CHAIN))),
    );
    assert.equal(longest.value.status, 201);
    assert.equal(longest.value.json.classification, "interception", "its own anchor: not a public root");
    assert.equal(longest.verifications, MAX_CHECKED_CHAIN - 1);
  } finally {
    await collector.close();
  }
});

test(`a report's signature checks stop at ${MAX_REPORT_SIGNATURE_COST} RSA-2048 verifications' worth (P-521 links cost 43)`, async () => {
  const collector = await startCollector({ store });
  try {
    const host = "p521.cost.keypin.test";
    // Three P-521 links (129) fit; a fourth would pass 160.
    const four = await counted(() => post(collector.url, reportOf(host, ecChain(host, 4, "P-521"))));
    assert.equal(four.value.json.classification, "interception", "three links: all checked");
    assert.equal(four.verifications, 3);
    const seven = await counted(() => post(collector.url, reportOf(host, ecChain(host, 7, "P-521"))));
    assert.equal(seven.value.json.classification, "misconfiguration");
    assert.equal(seven.verifications, 3, "six links, three checked: before, six");
    const group = (await store.groups({ host })).find((g) => g.key === seven.value.json.group);
    assert.match(String(group?.evidence), /signatures from \[3\] on were not checked/);
  } finally {
    await collector.close();
  }
});

test("each client has a signature budget per minute: past it 429 ERR_COLLECT_SIGNATURE_BUDGET; a chain checked before, another client and the next minute still pass", async () => {
  assert.ok(DEFAULT_SIGNATURE_COST_PER_MINUTE > 0);
  let now = Date.parse("2026-12-01T10:00:05Z");
  // P-256 links cost 3: room for three links, so one three-certificate chain (two links) and not two.
  const collector = await startCollector({ store, now: () => now, signatureCostPerClientPerMinute: 9 });
  try {
    const host = "budget.cost.keypin.test";
    const first = reportOf(host, ecChain(host, 3));
    const a = await counted(() => post(collector.url, first));
    assert.deepEqual([a.value.status, a.verifications], [201, 2]);
    const spent = await counted(() => post(collector.url, reportOf(host, ecChain(host, 3))));
    assert.equal(spent.value.status, 429, JSON.stringify(spent.value.json));
    assert.equal(spent.value.json.code, "ERR_COLLECT_SIGNATURE_BUDGET");
    assert.equal(spent.verifications, 1, "the link that fit was checked, the next one was not");
    // Its stored group's chain again: remembered, nothing to verify.
    const again = await counted(() => post(collector.url, first));
    assert.deepEqual([again.value.status, again.verifications], [201, 0]);
    // Another client (another loopback address) has its own budget.
    const other: Answer = await postFrom("127.0.0.2", collector.url, reportOf(host, ecChain(host, 3)));
    assert.equal(other.status, 201, JSON.stringify(other.json));
    now += 60_000;
    const next = await post(collector.url, reportOf(host, ecChain(host, 3)));
    assert.equal(next.status, 201, "a new minute, a new budget");
  } finally {
    await collector.close();
  }
});

/** POSTs from a given local address (127.0.0.0/8 is all loopback on Linux). */
async function postFrom(localAddress: string, url: string, body: string): Promise<Answer> {
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      agent: false,
      localAddress,
      headers: { "content-type": "application/json" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.end(body);
  });
}
