import { createHash, type KeyObject, X509Certificate } from "node:crypto";
import { rootCertificates } from "node:tls";
import { decodePem, parseCertificate } from "@keypin/core";

/** Where a report came from, told apart by its fields. */
export type ReportSource = "trustkit-ios" | "trustkit-android" | "rfc7469" | "keypin-node";

/** A report that passed validation, reduced to what the collector groups and classifies on. */
export interface IngestedReport {
  readonly source: ReportSource;
  readonly host: string;
  readonly port: number;
  readonly notedHost: string;
  readonly includeSubdomains: boolean;
  /** PEM, as sent; TrustKit iOS sends none. */
  readonly servedChain: readonly string[];
  readonly validatedChain: readonly string[];
  readonly knownPins: readonly string[];
  /** TrustKit's `validation-result`; null in an RFC 7469 report, which has none. */
  readonly result: number | null;
  readonly enforcePinning: boolean | null;
  readonly dateTime: string | null;
  readonly app: Readonly<Record<string, string>>;
}

/** Why a body was refused: the collector answers 400 with this message. */
export class ReportRejected extends Error {
  override name = "ReportRejected";
}

const APP_FIELDS = [
  "app-bundle-id",
  "app-version",
  "app-vendor-id",
  "app-platform",
  "app-platform-version",
  "trustkit-version",
] as const;

function fieldType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function wrongType(name: string, expected: string, value: unknown): ReportRejected {
  return new ReportRejected(`field "${name}" must be ${expected}, got ${fieldType(value)}`);
}

function optionalString(o: Record<string, unknown>, name: string): string | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw wrongType(name, "a string", v);
  return v;
}

function optionalBoolean(o: Record<string, unknown>, name: string): boolean | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw wrongType(name, "true or false", v);
  return v;
}

function stringArray(o: Record<string, unknown>, name: string, max: number): string[] | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw wrongType(name, "an array of strings", v);
  if (v.length > max)
    throw new ReportRejected(`field "${name}" has ${v.length} entries; at most ${max} are accepted`);
  v.forEach((entry, i) => {
    if (typeof entry !== "string") throw wrongType(`${name}[${i}]`, "a string", entry);
  });
  return v as string[];
}

const HOST_RE = /^[A-Za-z0-9._:[\]-]{1,253}$/;
const PEM_RE = /^-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----\s*$/;

/**
 * PEMs seen lately, as sent → as stored (64-column lines). A flood repeats the same few certificates, and
 * checking and re-wrapping each one (regular expressions over ~1 KB) was a tenth of a report's cost. The
 * map is keyed by the PEM's length and 32 characters of its end (the signature: they differ between any two
 * certificates), not the whole PEM, which V8 would hash character by character on every report; the entry
 * holds the PEM as sent, and a hit must equal it (a comparison of bytes). Bounded: emptied when full.
 */
const pemCache = new Map<string, { raw: string; pem: string; json: Buffer; id: number }>();
/** Numbers the PEM cache's entries, never reused (not even after the cache is emptied): an id names one PEM. */
let pemIds = 0;
const PEM_CACHE_SIZE = 4096;
const pemCacheKey = (pem: string): string => `${pem.length}:${pem.slice(-72, -40)}`;

/**
 * Checks that each entry is one PEM certificate and returns them normalized, with each one's JSON text
 * (for the group key); throws ReportRejected.
 */
function checkPems(name: string, pems: readonly string[]): { pems: string[]; json: Buffer[]; ids: number[] } {
  const out: string[] = [];
  const json: Buffer[] = [];
  const ids: number[] = [];
  pems.forEach((pem, i) => {
    const cacheKey = pemCacheKey(pem);
    let known = pemCache.get(cacheKey);
    if (known === undefined || known.raw !== pem) {
      if (!PEM_RE.test(pem.trim())) {
        throw new ReportRejected(
          `field "${name}[${i}]" must be one PEM certificate (-----BEGIN CERTIFICATE-----)`,
        );
      }
      const normalized = normalizePem(pem);
      // The PEM shape alone let random base64 through, stored as ~4 KB "certificates" that never parse.
      let reason: string | undefined;
      try {
        const blocks = decodePem(normalized);
        if (blocks.length !== 1 || !blocks[0]) reason = `${blocks.length} PEM blocks`;
        else parseCertificate(blocks[0].der);
      } catch (error) {
        reason = (error as Error).message;
      }
      if (reason !== undefined) {
        throw new ReportRejected(
          `field "${name}[${i}]" is not an X.509 certificate (${reason.slice(0, 200)}): send each certificate of the chain as PEM`,
        );
      }
      known = { raw: pem, pem: normalized, json: Buffer.from(JSON.stringify(normalized)), id: ++pemIds };
      if (pemCache.size >= PEM_CACHE_SIZE) pemCache.clear();
      pemCache.set(cacheKey, known);
    }
    out.push(known.pem);
    json.push(known.json);
    ids.push(known.id);
  });
  return { pems: out, json, ids };
}

/** Group keys computed while parsing (from the PEMs' cached JSON text), so groupKey need not serialize the chains. */
const parsedKeys = new WeakMap<IngestedReport, string>();
/**
 * What classify reads of a parsed report, named exactly: its group key (host, port, noted host, pins,
 * result and the key's chain), include-subdomains and both chains' PEM cache ids.
 */
const classifyInputs = new WeakMap<IngestedReport, string>();
/** Group keys by what they hash (see parseReport); bounded: emptied when full. */
const keyCache = new Map<string, string>();
const KEY_CACHE_SIZE = 4096;

/**
 * Parses and validates a report body: TrustKit iOS (`app-platform` "IOS", no served chain), TrustKit
 * Android (`app-platform` "ANDROID"), @keypin/node (core's builder: `validation-result` and
 * `enforce-pinning`, no app platform) or RFC 7469 §3. Throws {@link ReportRejected} with the reason.
 */
export function parseReport(body: string): IngestedReport {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new ReportRejected(`the body is not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ReportRejected(`unknown report shape: expected a JSON object, got ${fieldType(value)}`);
  }
  const o = value as Record<string, unknown>;
  if (!("hostname" in o) || !("known-pins" in o)) {
    throw new ReportRejected(
      'unknown report shape: a TrustKit or RFC 7469 report has "hostname" and "known-pins" (missing ' +
        ["hostname", "known-pins"].filter((k) => !(k in o)).join(", ") +
        ")",
    );
  }
  const host = optionalString(o, "hostname") ?? "";
  if (!HOST_RE.test(host)) {
    throw new ReportRejected(
      'field "hostname" must be a host name or IP address (letters, digits, . - _ : [ ]; 1 to 253)',
    );
  }
  let port = 443;
  if (o.port !== undefined) {
    if (typeof o.port !== "number" || !Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
      throw wrongType("port", "an integer from 0 to 65535", o.port);
    }
    port = o.port;
  }
  const knownPins = stringArray(o, "known-pins", 64) ?? [];
  const served = stringArray(o, "served-certificate-chain", 16);
  const validated = stringArray(o, "validated-certificate-chain", 16);
  if (served === undefined && validated === undefined) {
    throw new ReportRejected(
      'unknown report shape: neither "served-certificate-chain" nor "validated-certificate-chain"',
    );
  }
  const servedPems = checkPems("served-certificate-chain", served ?? []);
  const validatedPems = checkPems("validated-certificate-chain", validated ?? []);
  let result: number | null = null;
  if (o["validation-result"] !== undefined) {
    const r = o["validation-result"];
    if (typeof r !== "number" || !Number.isInteger(r) || r < 0 || r > 255) {
      throw wrongType("validation-result", "an integer (TrustKit's TSKTrustEvaluationResult)", r);
    }
    result = r;
  }
  const app: Record<string, string> = {};
  for (const name of APP_FIELDS) {
    const v = optionalString(o, name);
    if (v !== undefined) app[name] = v.slice(0, 200);
  }
  if (o.app !== undefined) {
    if (o.app === null || typeof o.app !== "object" || Array.isArray(o.app))
      throw wrongType("app", "an object", o.app);
    for (const [k, v] of Object.entries(o.app as Record<string, unknown>)) {
      if (typeof v !== "string") throw wrongType(`app.${k}`, "a string", v);
      app[k.slice(0, 100)] = v.slice(0, 200);
    }
  }
  const platform = app["app-platform"]?.toUpperCase();
  const source: ReportSource =
    platform === "IOS"
      ? "trustkit-ios"
      : platform === "ANDROID"
        ? "trustkit-android"
        : result !== null || o["enforce-pinning"] !== undefined
          ? "keypin-node"
          : "rfc7469";
  const notedHost = optionalString(o, "noted-hostname") ?? host;
  if (!HOST_RE.test(notedHost)) {
    throw new ReportRejected(
      'field "noted-hostname" must be a host name (letters, digits, . - _ : [ ]; 1 to 253)',
    );
  }
  optionalString(o, "effective-expiration-date");
  const report: IngestedReport = {
    source,
    host: host.toLowerCase(),
    port,
    notedHost: notedHost.toLowerCase(),
    includeSubdomains: optionalBoolean(o, "include-subdomains") ?? false,
    servedChain: servedPems.pems,
    validatedChain: validatedPems.pems,
    knownPins: knownPins.map((p) => p.trim()),
    result,
    enforcePinning: optionalBoolean(o, "enforce-pinning") ?? null,
    dateTime: optionalString(o, "date-time") ?? null,
    app,
  };
  // The same bytes as groupKey's JSON.stringify (so the same key), each PEM's JSON encoded once and cached.
  const chosen = report.servedChain.length > 0 ? servedPems : validatedPems;
  // A flood repeats a few groups: the key is kept per (host, port, noted host, the chain's PEM cache ids,
  // pins, result), which names the hashed bytes exactly (an id is one PEM, never reused), so hashing ~5 KB
  // per report is done once per group. None of the parts holds a raw newline (hosts match HOST_RE, the pins
  // are JSON, the ids digits).
  const pins = JSON.stringify(report.knownPins);
  const memo = `${report.host}\n${report.port}\n${report.notedHost}\n${chosen.ids.join(",")}\n${pins}\n${report.result}`;
  const cached = keyCache.get(memo);
  if (cached !== undefined) {
    parsedKeys.set(report, cached);
    classifyInputs.set(
      report,
      `${cached}\n${report.includeSubdomains}\n${servedPems.ids.join(",")}\n${validatedPems.ids.join(",")}`,
    );
    return report;
  }
  const chainJson = chosen.json;
  const hash = createHash("sha256").update(
    `[${JSON.stringify(report.host)},${report.port},${JSON.stringify(report.notedHost)},[`,
  );
  chainJson.forEach((json, i) => {
    if (i > 0) hash.update(",");
    hash.update(json);
  });
  hash.update(`],${pins},${report.result}]`);
  const key = hash.digest("hex");
  if (keyCache.size >= KEY_CACHE_SIZE) keyCache.clear();
  keyCache.set(memo, key);
  parsedKeys.set(report, key);
  classifyInputs.set(
    report,
    `${key}\n${report.includeSubdomains}\n${servedPems.ids.join(",")}\n${validatedPems.ids.join(",")}`,
  );
  return report;
}

function normalizePem(pem: string): string {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/**
 * The group a report belongs to: TrustKit's tuple (host, port, noted host, served chain, known pins,
 * result). TrustKit iOS sends no served chain; its validated chain stands in, as in TrustKit's own limiter.
 */
export function groupKey(r: IngestedReport): string {
  const parsed = parsedKeys.get(r);
  if (parsed !== undefined) return parsed;
  const chain = r.servedChain.length > 0 ? r.servedChain : r.validatedChain;
  return createHash("sha256")
    .update(JSON.stringify([r.host, r.port, r.notedHost, chain, r.knownPins, r.result]))
    .digest("hex");
}

export type Classification = "interception" | "server-change" | "misconfiguration";

export interface ClassifiedReport {
  readonly classification: Classification;
  /** One line per fact the classification rests on. */
  readonly evidence: readonly string[];
}

const spkiPin = (cert: X509Certificate): string =>
  createHash("sha256")
    .update(cert.publicKey.export({ type: "spki", format: "der" }))
    .digest("base64");

/** A certificate of a report, parsed once: Node's X509Certificate and its SPKI pin (computed when asked). */
interface CertFacts {
  readonly cert?: X509Certificate;
  /** Why it does not parse. */
  readonly error?: string;
  pin?: string;
  /** checkHost's answers, by host. */
  hosts?: Map<string, boolean>;
  /** What verifying a signature with its key costs (see verificationCost), or why it is never done. */
  cost?: number | string;
}

/**
 * Certificates seen lately, by normalized PEM. Parsing one (new X509Certificate) costs ~0.1 ms and its pin
 * (the key exported to SPKI) as much again: five of each per report were ~1.4 ms, nearly all of a report's
 * classification, and the reports of a flood, or of one proxy, carry the same few certificates.
 */
const certCache = new Map<string, CertFacts>();
const CERT_CACHE_SIZE = 4096;
/** Whether child (by SHA-256 fingerprint) is issued and signed by parent: "child>parent" → answer. */
const linkCache = new Map<string, Link>();

function certFacts(pem: string): CertFacts {
  let facts = certCache.get(pem);
  if (!facts) {
    try {
      facts = { cert: new X509Certificate(pem) };
    } catch (error) {
      facts = { error: (error as Error).message };
    }
    if (certCache.size >= CERT_CACHE_SIZE) certCache.clear();
    certCache.set(pem, facts);
  }
  return facts;
}

/** Whether the certificate is for `host` (X509Certificate.checkHost, which reads the names each call), remembered. */
function coversHost(facts: CertFacts, host: string): boolean {
  facts.hosts ??= new Map();
  let answer = facts.hosts.get(host);
  if (answer === undefined) {
    answer = (facts.cert as X509Certificate).checkHost(host) !== undefined;
    if (facts.hosts.size >= 1024) facts.hosts.clear();
    facts.hosts.set(host, answer);
  }
  return answer;
}

function pinOf(facts: CertFacts): string {
  facts.pin ??= spkiPin(facts.cert as X509Certificate);
  return facts.pin;
}

/**
 * What one verification with an EC or EdDSA key costs, in units of one RSA-2048 (e = 65537) verification:
 * @keypin/node's table (signature.ts, measured with Node 20's OpenSSL 3.0: P-256 98 µs, P-384 710 µs, P-521
 * 1.44 ms, Ed25519 128 µs, Ed448 271 µs, RSA-2048 33 µs), copied: loading @keypin/node for it is not worth
 * the dependency. Any other curve is refused (sect571k1 took 3.1 ms).
 */
const CURVE_COST: Readonly<Record<string, number>> = {
  prime256v1: 3,
  secp384r1: 21,
  secp521r1: 43,
  secp256k1: 15,
  brainpoolP256r1: 15,
  brainpoolP320r1: 22,
  brainpoolP384r1: 31,
  brainpoolP512r1: 41,
};
const EDDSA_COST: Readonly<Record<string, number>> = { ed25519: 4, ed448: 8 };
/**
 * RSA keys verified with: a modulus of 1024 to 8192 bits (Go's crypto/tls refuses larger ones since
 * CVE-2023-29409, for this cost) and a public exponent below 2^32 (Go's, Windows' limit). OpenSSL limits the
 * exponent to 64 bits only above 3072 bits: an RSA-3072 key with a 3071-bit exponent cost ~8 ms a
 * verification, and a report of 16 such certificates ~125 ms of the event loop (review).
 */
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 8192;
const RSA_MAX_EXPONENT_BITS = 32;
/** A validated chain longer than this is not link-checked at all (no TLS chain is: a path of 9 is long). */
export const MAX_CHECKED_CHAIN = 9;
/**
 * What one report's signature checks may cost, in RSA-2048 verifications (see verificationCost): three links
 * signed with P-521 keys (129), seven with P-384 (147) and eight with RSA-8192 (128) fit.
 */
export const MAX_REPORT_SIGNATURE_COST = 160;

/**
 * What verifying a signature made with `key` costs, in units of one RSA-2048 (e = 65537) verification (RSA by
 * the square of its modulus and the length of its exponent), or why the collector never verifies with it: an
 * RSA key outside 1024..8192 bits or with an exponent of 2^32 or more, a curve without a known cost, a key type
 * a TLS certificate does not use. Never throws.
 */
export function verificationCost(key: KeyObject): number | string {
  let type: string | undefined;
  let details: KeyObject["asymmetricKeyDetails"];
  try {
    type = key.asymmetricKeyType;
    details = key.asymmetricKeyDetails;
  } catch {
    return "cannot be read";
  }
  if (type === "ec") {
    const curve = details?.namedCurve ?? "";
    return (
      CURVE_COST[curve] ??
      `is an EC key on ${curve === "" ? "an unnamed curve" : curve}, which TLS clients do not verify with`
    );
  }
  const eddsa = type === undefined ? undefined : EDDSA_COST[type];
  if (eddsa !== undefined) return eddsa;
  if (type !== "rsa" && type !== "rsa-pss")
    return `is of type ${type ?? "unknown"}, which TLS certificates are not signed with`;
  const bits = details?.modulusLength ?? 0;
  const exponent = details?.publicExponent ?? 0n;
  const exponentBits = exponent.toString(2).length;
  if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
    return `is RSA-${bits}, outside the ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits TLS clients verify with`;
  if (exponentBits > RSA_MAX_EXPONENT_BITS || exponent < 3n)
    return `is RSA with a ${exponentBits}-bit public exponent (TLS clients take 3 to 2^32 - 1)`;
  return Math.max(1, (bits / 2048) ** 2) * Math.max(1, exponentBits / 17);
}

function costOf(facts: CertFacts): number | string {
  if (facts.cost === undefined) {
    try {
      facts.cost = verificationCost((facts.cert as X509Certificate).publicKey);
    } catch (error) {
      facts.cost = `cannot be read (${(error as Error).message.slice(0, 100)})`;
    }
  }
  return facts.cost;
}

/**
 * A client's signature checks left (the collector gives each client some every minute): classify takes the
 * cost of each signature it verifies (not of those it remembers) from `left`, and throws
 * {@link SignatureBudgetSpent} rather than pass zero.
 */
export interface SignatureBudget {
  left: number;
}

/** The client's signature checks are spent ({@link SignatureBudget}): the report was not classified. */
export class SignatureBudgetSpent extends Error {
  override name = "SignatureBudgetSpent";
  readonly code = "ERR_COLLECT_SIGNATURE_BUDGET";
}

/** Whether child's issuer fields name parent, remembered with the signature's answer ("child>parent"). */
type Link = boolean | "not-issued";

/**
 * Whether `child` is issued and signed by `parent`, and what checking it cost; remembered (a flood repeats a
 * few chains). A key the collector does not verify with (verificationCost) is `refused`; a signature that
 * would pass the report's `room` or the client's `budget` is not checked (`over`, or SignatureBudgetSpent).
 */
function issuedBy(
  child: X509Certificate,
  parent: CertFacts,
  room: number,
  budget: SignatureBudget | undefined,
): { link: Link; cost: number } | { refused: string } | "over" {
  const key = `${child.fingerprint256}>${(parent.cert as X509Certificate).fingerprint256}`;
  const known = linkCache.get(key);
  if (known !== undefined) return { link: known, cost: 0 };
  let link: Link;
  let cost = 0;
  if (!child.checkIssued(parent.cert as X509Certificate)) link = "not-issued";
  else {
    const units = costOf(parent);
    if (typeof units === "string") return { refused: units };
    if (units > room) return "over";
    if (budget !== undefined && units > budget.left) {
      throw new SignatureBudgetSpent(
        "this client's signature checks for this minute are spent: retry in the next minute",
      );
    }
    if (budget !== undefined) budget.left -= units;
    cost = units;
    link = child.verify((parent.cert as X509Certificate).publicKey);
  }
  if (linkCache.size >= CERT_CACHE_SIZE) linkCache.clear();
  linkCache.set(key, link);
  return { link, cost };
}

const rootPinCache = new WeakMap<readonly string[], Set<string>>();
/** SPKI pins of a root store (by default Node's bundled one, tls.rootCertificates: the public roots). */
function rootPins(roots: readonly string[]): Set<string> {
  let pins = rootPinCache.get(roots);
  if (!pins) {
    pins = new Set();
    for (const pem of roots) {
      try {
        pins.add(spkiPin(new X509Certificate(pem)));
      } catch {
        // a root Node cannot parse cannot anchor a chain either
      }
    }
    rootPinCache.set(roots, pins);
  }
  return pins;
}

/** Options of {@link classify}. */
export interface ClassifyOptions {
  /** The public roots (PEM); default Node's bundled root store, tls.rootCertificates. */
  publicRoots?: readonly string[] | undefined;
  /**
   * The sending client's signature checks left: each signature verified (not remembered) takes its cost,
   * and one that would pass it throws {@link SignatureBudgetSpent}. Without it only the report's own bound
   * (MAX_REPORT_SIGNATURE_COST) applies.
   */
  signatureBudget?: SignatureBudget | undefined;
}

const PIN_RE = /^pin-sha256\s*=\s*"([A-Za-z0-9+/]{43}=)"$/;

function hostCovered(host: string, noted: string, includeSubdomains: boolean): boolean {
  return host === noted || (includeSubdomains && host.endsWith(`.${noted}`));
}

/**
 * Classifies a report from its own fields:
 * - `misconfiguration`: the fields disagree (a known pin is in the validated chain yet it failed, the
 *   host is not under the noted host, the chain does not link, the leaf is not for the host, a
 *   failure report that says success, pins that are not pins);
 * - `interception`: the validated chain ends at an anchor that is not in Node's bundled root store;
 * - `server-change`: publicly trusted but matching no pin.
 */
/** Classifications by what classify read (see classifyInputs), per root store; bounded: emptied when full. */
const classified = new WeakMap<readonly string[], Map<string, ClassifiedReport>>();
const CLASSIFIED_SIZE = 4096;

/**
 * {@link classify}, remembered per group (a flood repeats a few): a report from {@link parseReport} whose
 * key, include-subdomains and chains were classified before gets that answer; any other report is
 * classified. The answer is shared: do not change it.
 */
export function classifyReport(r: IngestedReport, options: ClassifyOptions = {}): ClassifiedReport {
  const inputs = classifyInputs.get(r);
  if (inputs === undefined) return classify(r, options);
  const roots = options.publicRoots ?? rootCertificates;
  let memo = classified.get(roots);
  if (!memo) {
    memo = new Map();
    classified.set(roots, memo);
  }
  let answer = memo.get(inputs);
  if (!answer) {
    answer = classify(r, options);
    if (memo.size >= CLASSIFIED_SIZE) memo.clear();
    memo.set(inputs, answer);
  }
  return answer;
}

export function classify(r: IngestedReport, options: ClassifyOptions = {}): ClassifiedReport {
  const problems: string[] = [];
  if (!hostCovered(r.host, r.notedHost, r.includeSubdomains)) {
    problems.push(
      `hostname ${r.host} is not ${r.notedHost}${r.includeSubdomains ? " or a subdomain of it" : " and include-subdomains is false"}`,
    );
  }
  if (r.result === 0) problems.push("validation-result is 0 (success) in a failure report");
  const pins: string[] = [];
  for (const p of r.knownPins) {
    const m = PIN_RE.exec(p);
    if (m?.[1]) pins.push(m[1]);
    else
      problems.push(`known pin ${JSON.stringify(p.slice(0, 80))} is not pin-sha256="<base64 of 32 bytes>"`);
  }
  if (r.knownPins.length === 0) problems.push("known-pins is empty: nothing could have failed to match");
  const parse = (pems: readonly string[], name: string): CertFacts[] | undefined => {
    const all = pems.map(certFacts);
    const bad = all.find((f) => f.error !== undefined);
    if (bad) {
      problems.push(`${name} holds a certificate that does not parse: ${bad.error}`);
      return undefined;
    }
    return all;
  };
  const validatedFacts = parse(r.validatedChain, "validated-certificate-chain");
  const served = parse(r.servedChain, "served-certificate-chain")?.map((f) => f.cert as X509Certificate);
  const validated = validatedFacts?.map((f) => f.cert as X509Certificate);
  let anchor: CertFacts | undefined;
  if (validated && validatedFacts) {
    if (validated.length === 0) problems.push("validated-certificate-chain is empty");
    if (validated.length > MAX_CHECKED_CHAIN) {
      problems.push(
        `validated-certificate-chain has ${validated.length} certificates; no TLS path is longer than ${MAX_CHECKED_CHAIN}, so its signatures were not checked`,
      );
    } else {
      // Bounded work: each signature's cost is known before it is checked, and the report's are capped.
      let room = MAX_REPORT_SIGNATURE_COST;
      for (let i = 0; i + 1 < validated.length; i++) {
        const child = validated[i] as X509Certificate;
        const checked = issuedBy(child, validatedFacts[i + 1] as CertFacts, room, options.signatureBudget);
        if (checked === "over") {
          problems.push(
            `validated-certificate-chain's signatures from [${i}] on were not checked: they cost more than a report may (${MAX_REPORT_SIGNATURE_COST} RSA-2048 verifications)`,
          );
          break;
        }
        if ("refused" in checked) {
          problems.push(
            `validated-certificate-chain[${i + 1}]'s key ${checked.refused}: the signature on [${i}] was not checked`,
          );
          continue;
        }
        room -= checked.cost;
        if (checked.link !== true) {
          problems.push(
            `validated-certificate-chain[${i}] (${child.subject.replace(/\n/g, ", ")}) is not issued by [${i + 1}]`,
          );
        }
      }
    }
    const leaf = validated[0];
    if (leaf && !coversHost(validatedFacts[0] as CertFacts, r.host)) {
      problems.push(`the validated leaf (${leaf.subject.replace(/\n/g, ", ")}) is not for ${r.host}`);
    }
    const matched = validatedFacts.map(pinOf).filter((pin) => pins.includes(pin));
    if (matched.length > 0 && r.result !== null && r.result !== 0) {
      problems.push(
        `known pin ${matched[0]} is in the validated chain, yet validation-result is ${r.result}`,
      );
    } else if (matched.length > 0 && r.result === null) {
      problems.push(`known pin ${matched[0]} is in the validated chain of a pin-failure report`);
    }
    anchor = validatedFacts[validatedFacts.length - 1];
    if (served && served.length > 0 && leaf && served[0]?.fingerprint256 !== leaf.fingerprint256) {
      problems.push("the served leaf is not the validated leaf");
    }
  }
  if (problems.length > 0) return { classification: "misconfiguration", evidence: problems };
  const a = anchor as CertFacts;
  const anchorName = (a.cert as X509Certificate).subject.replace(/\n/g, ", ");
  const anchorPin = pinOf(a);
  if (!rootPins(options.publicRoots ?? rootCertificates).has(anchorPin)) {
    return {
      classification: "interception",
      evidence: [
        `the validated chain ends at ${anchorName} (pin-sha256 ${anchorPin}), which is not a public root (not in Node's bundled root store): a user-installed or proxy CA`,
      ],
    };
  }
  return {
    classification: "server-change",
    evidence: [
      `the validated chain ends at the public root ${anchorName}`,
      `none of its ${validated?.length ?? 0} keys matches ${pins.length === 1 ? "the one known pin" : `the ${pins.length} known pins`}: a renewal with a new key or a new CA`,
    ],
  };
}
