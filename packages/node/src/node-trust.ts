import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import { decodePem, encodePem } from "@keypin/core";

/**
 * Node's default trust, the anchors of a connection made without a `ca` option, as keypin can know them.
 *
 * What Node really does (measured on Node 20.20, 22.23 and 24.9, Linux x64; see the README, "What keypin checks"):
 * - Node 22.15+/23.10+ have `tls.getCACertificates()`. Its 'default' list is exactly the store of a default
 *   context with the bundled store and with `--use-system-ca` (bundled + system + extra), and after
 *   `tls.setDefaultCACertificates()`. Under `--use-openssl-ca` it lists only the NODE_EXTRA_CA_CERTS certificates,
 *   although the connection also trusts OpenSSL's store (SSL_CERT_FILE and SSL_CERT_DIR): keypin reads that store
 *   itself. 'default' also drops the extra certificates once `process.env.NODE_EXTRA_CA_CERTS` is deleted, while
 *   the store still has them: keypin then trusts less than Node (fails closed) and says so.
 * - Node 20 has no such API. Its store is the bundled roots (or OpenSSL's store under `--use-openssl-ca`) plus the
 *   certificates of the file NODE_EXTRA_CA_CERTS named when the process started (read at start-up; a value set in
 *   `process.env` later changes nothing).
 * Where keypin cannot know an anchor for sure it leaves it out, and says why in `limits`.
 */
export interface DefaultTrust {
  /** The anchors (DER). */
  ders: Uint8Array[];
  /**
   * When set, a context must be built to trust exactly these PEMs (`ca`), not from Node's default store: under
   * `--use-openssl-ca` Node's store looks certificates up in SSL_CERT_DIR lazily and read SSL_CERT_FILE when it
   * was created, so only an explicit list makes keypin's connections trust exactly keypin's anchors.
   */
  exactPems: string[] | undefined;
  /**
   * The PEMs to add back to a context whose store is replaced by adding a `ca` certificate. On Node 20 the fresh
   * store lacks the NODE_EXTRA_CA_CERTS certificates; on Node 22+ it keeps them (and a reset default list).
   */
  addBackPems: string[];
  /** How the anchors were found. */
  source: "getCACertificates" | "bundled" | "openssl-store";
  /** The CA store Node uses, from its flags. */
  store: CaStore;
  /** Why some certificates Node may trust are not anchors for keypin (each a sentence); empty when exact. */
  limits: string[];
}

/** The CA store Node's flags select. */
export type CaStore = "bundled" | "openssl" | "system";

interface Certificates {
  pems: string[];
  ders: Uint8Array[];
}

/** The certificates in a PEM text, each re-encoded (one PEM per certificate). */
export function certificatesOf(pemText: string): Certificates {
  const pems: string[] = [];
  const ders: Uint8Array[] = [];
  for (const block of decodePem(pemText)) {
    if (block.label !== "CERTIFICATE" && block.label !== "TRUSTED CERTIFICATE") continue;
    ders.push(block.der);
    pems.push(encodePem(block.der));
  }
  return { pems, ders };
}

let startup: ReadonlyMap<string, string> | null | undefined;
/**
 * The environment the process was started with, from /proc/self/environ (Linux): the block the kernel copied at
 * exec, which assignments to `process.env` do not change. `null` where there is no /proc.
 */
export function startupEnvironment(): ReadonlyMap<string, string> | null {
  if (startup !== undefined) return startup;
  try {
    const text = readFileSync("/proc/self/environ", "latin1");
    const map = new Map<string, string>();
    for (const entry of text.split("\0")) {
      const eq = entry.indexOf("=");
      if (eq > 0 && !map.has(entry.slice(0, eq))) map.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    // latin1 kept every byte; the values are UTF-8 (a path with non-ASCII characters).
    for (const [key, value] of map) map.set(key, Buffer.from(value, "latin1").toString("utf8"));
    startup = map;
  } catch {
    startup = null;
  }
  return startup;
}

/** NODE_OPTIONS split as Node splits it: on spaces, with double quotes grouping and `\` escaping inside them. */
export function splitNodeOptions(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let started = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === "\\" && i + 1 < text.length) {
      current += text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      started = true;
    } else if (c === " " && !quoted) {
      if (started) out.push(current);
      current = "";
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (started) out.push(current);
  return out;
}

/**
 * The CA store selected by Node's options, NODE_OPTIONS first and then the command line (later wins; Node
 * accepts `_` for `-` and a `--no-` negation). Node refuses to start with both --use-openssl-ca and
 * --use-bundled-ca; `--use-openssl-ca` wins over `--use-system-ca`, as in Node's own store.
 */
export function caStoreOf(nodeOptions: readonly string[], execArgv: readonly string[]): CaStore {
  const flags = new Map<string, boolean>();
  for (const arg of [...nodeOptions, ...execArgv]) {
    if (!arg.startsWith("--")) continue;
    let name = arg.slice(2).split("=")[0]!.replaceAll("_", "-");
    let value = true;
    if (name.startsWith("no-")) {
      name = name.slice(3);
      value = false;
    }
    if (name === "use-openssl-ca" || name === "use-bundled-ca" || name === "use-system-ca")
      flags.set(name, value);
  }
  const buildDefault = (process.config.variables as Record<string, unknown>)["openssl_use_def_ca_store"];
  let openssl = flags.get("use-openssl-ca") ?? (buildDefault === true || buildDefault === 1);
  if (flags.get("use-bundled-ca") === true) openssl = false;
  if (openssl) return "openssl";
  return flags.get("use-system-ca") === true ? "system" : "bundled";
}

/** Node's NODE_OPTIONS as the process started (start-up environment), or `process.env`'s without /proc. */
function startupNodeOptions(limits: string[]): string[] {
  const env = startupEnvironment();
  if (env) return splitNodeOptions(env.get("NODE_OPTIONS") ?? "");
  const current = process.env["NODE_OPTIONS"] ?? "";
  if (/use[-_](openssl|bundled|system)[-_]ca/.test(current)) {
    limits.push(
      "NODE_OPTIONS names a CA store flag, and without /proc keypin cannot tell whether it was set at start-up; " +
        "it was read from process.env.",
    );
  }
  return splitNodeOptions(current);
}

/** OpenSSL's directory in Node's own (static) OpenSSL: "/etc/ssl" in the Linux builds (read from the binaries). */
function opensslDir(): string | undefined {
  const shared = (process.config.variables as Record<string, unknown>)["node_shared_openssl"];
  return process.platform === "linux" && shared !== true ? "/etc/ssl" : undefined;
}

/** The file names OpenSSL's hashed-directory lookup opens: `<8 hex digits of the subject hash>.<n>`. */
const HASHED_NAME = /^[0-9a-f]{8}\.[0-9]+$/;

/**
 * The certificates of OpenSSL's default store for these SSL_CERT_FILE / SSL_CERT_DIR values: the file, and the
 * hash-named files of each directory (OpenSSL finds a directory's certificates by the subject hash in the name;
 * other files there are never read).
 */
function opensslStore(file: string | undefined, dir: string | undefined, limits: string[]): Certificates {
  const out: Certificates = { pems: [], ders: [] };
  const base = opensslDir();
  const add = (path: string): void => {
    try {
      const found = certificatesOf(readFileSync(path, "utf8"));
      out.pems.push(...found.pems);
      out.ders.push(...found.ders);
    } catch {
      // missing or unreadable: OpenSSL skips it too
    }
  };
  const certFile = file ?? (base ? join(base, "cert.pem") : undefined);
  const certDirs = dir !== undefined ? dir.split(":") : base ? [join(base, "certs")] : [];
  if (base === undefined && (file === undefined || dir === undefined)) {
    limits.push(
      "keypin does not know OpenSSL's default certificate paths in this Node build (not Linux, or a shared " +
        "OpenSSL): set SSL_CERT_FILE and SSL_CERT_DIR to the store Node should use.",
    );
  }
  if (certFile) add(certFile);
  for (const certDir of certDirs) {
    if (certDir === "") continue;
    let names: string[];
    try {
      names = readdirSync(certDir);
    } catch {
      continue;
    }
    for (const name of names.sort()) if (HASHED_NAME.test(name)) add(join(certDir, name));
  }
  return out;
}

/** The certificates of both lists (by DER bytes), in `a`'s order: trusting less when two sources disagree. */
function intersect(a: Certificates, b: Certificates): Certificates {
  const inB = new Set(b.ders.map((der) => Buffer.from(der).toString("base64")));
  const out: Certificates = { pems: [], ders: [] };
  a.ders.forEach((der, i) => {
    if (inB.has(Buffer.from(der).toString("base64"))) {
      out.ders.push(der);
      out.pems.push(a.pems[i]!);
    }
  });
  return out;
}

/** Each certificate once (the bundle and the hashed directory usually hold the same ones): a smaller `ca` list. */
function unique(list: Certificates): Certificates {
  const seen = new Set<string>();
  const out: Certificates = { pems: [], ders: [] };
  list.ders.forEach((der, i) => {
    const key = Buffer.from(der).toString("base64");
    if (seen.has(key)) return;
    seen.add(key);
    out.ders.push(der);
    out.pems.push(list.pems[i]!);
  });
  return out;
}

/** OpenSSL's store under --use-openssl-ca, from the variables now and, when they differ, at start-up (both). */
function opensslStoreNow(limits: string[]): Certificates {
  const now = unique(opensslStore(process.env["SSL_CERT_FILE"], process.env["SSL_CERT_DIR"], limits));
  const env = startupEnvironment();
  if (!env) return now;
  const atStart = { file: env.get("SSL_CERT_FILE"), dir: env.get("SSL_CERT_DIR") };
  if (atStart.file === process.env["SSL_CERT_FILE"] && atStart.dir === process.env["SSL_CERT_DIR"])
    return now;
  limits.push(
    "SSL_CERT_FILE or SSL_CERT_DIR changed since start-up, and Node's store read them when it was created: only " +
      "the certificates in both the start-up and the current store are trusted.",
  );
  return intersect(now, opensslStore(atStart.file, atStart.dir, []));
}

/** Node 20: the NODE_EXTRA_CA_CERTS certificates Node loaded at start-up, as far as keypin can know them. */
function startupExtraCertificates(limits: string[], warnUnreadable: (message: string) => void): Certificates {
  const none: Certificates = { pems: [], ders: [] };
  const env = startupEnvironment();
  const file = env ? env.get("NODE_EXTRA_CA_CERTS") : process.env["NODE_EXTRA_CA_CERTS"];
  // A value changed in process.env since start-up is ignored, as Node ignores it: no limit, keypin agrees with Node.
  if (!file) return none;
  if (!env) {
    limits.push(
      `NODE_EXTRA_CA_CERTS (${file}) is not trusted: without /proc keypin cannot tell whether it was set at ` +
        "start-up (when Node read it) or later. Give the CA in `ca` as well, or use Node 22.15 or later.",
    );
    return none;
  }
  try {
    // Node read the file at start-up; a file changed since then may not hold what Node loaded.
    const startedAt = performance.timeOrigin;
    if (statSync(file).mtimeMs > startedAt) {
      limits.push(
        `NODE_EXTRA_CA_CERTS (${file}) changed after the process started, so keypin cannot know which ` +
          "certificates Node loaded from it: none of them is trusted. Restart the process.",
      );
      return none;
    }
    return certificatesOf(readFileSync(file, "utf8"));
  } catch (error) {
    warnUnreadable(
      `keypin: could not read NODE_EXTRA_CA_CERTS (${file}): ${(error as Error).message}; ` +
        "trusting the bundled roots only.",
    );
    return none;
  }
}

function fromPems(pems: readonly string[]): Certificates {
  const out: Certificates = { pems: [], ders: [] };
  for (const pem of pems) {
    const found = certificatesOf(pem);
    out.pems.push(...found.pems);
    out.ders.push(...found.ders);
  }
  return out;
}

type GetCaCertificates = (type?: "default" | "bundled" | "system" | "extra") => readonly string[];

/** `tls.getCACertificates` where this Node has it (22.15+, 23.10+). */
export function nodeGetCaCertificates(): GetCaCertificates | undefined {
  const fn = (tls as unknown as { getCACertificates?: GetCaCertificates }).getCACertificates;
  return typeof fn === "function" ? fn : undefined;
}

let cached: { key: string; defaults: readonly string[] | undefined; trust: DefaultTrust } | undefined;

/**
 * Node's default trust now (see {@link DefaultTrust}). Cached while what it depends on is unchanged: the
 * 'default' list object (replaced by `tls.setDefaultCACertificates`) and, under --use-openssl-ca, the
 * SSL_CERT_FILE / SSL_CERT_DIR variables.
 */
export function readDefaultTrust(warn: (message: string) => void): DefaultTrust {
  const get = nodeGetCaCertificates();
  const defaults = get?.("default");
  const key = JSON.stringify([
    process.env["SSL_CERT_FILE"] ?? null,
    process.env["SSL_CERT_DIR"] ?? null,
    process.env["NODE_EXTRA_CA_CERTS"] ?? null,
  ]);
  if (cached && cached.key === key && cached.defaults === defaults) return cached.trust;
  const trust = computeDefaultTrust(get, defaults, warn);
  cached = { key, defaults, trust };
  return trust;
}

function computeDefaultTrust(
  get: GetCaCertificates | undefined,
  defaults: readonly string[] | undefined,
  warn: (message: string) => void,
): DefaultTrust {
  const limits: string[] = [];
  const store = caStoreOf(startupNodeOptions(limits), process.execArgv);
  if (get && defaults) {
    const extra = get("extra");
    if (store !== "openssl") {
      if (extra.length > 0 && !process.env["NODE_EXTRA_CA_CERTS"]) {
        limits.push(
          "NODE_EXTRA_CA_CERTS was removed from process.env: Node's store still holds its certificates but " +
            "tls.getCACertificates('default') no longer lists them, so keypin does not trust them.",
        );
      }
      const found = fromPems(defaults);
      return {
        ders: found.ders,
        exactPems: undefined,
        addBackPems: [],
        source: "getCACertificates",
        store,
        limits,
      };
    }
    // --use-openssl-ca: 'default' lists only the extra certificates (none once NODE_EXTRA_CA_CERTS is deleted from
    // process.env), unless setDefaultCACertificates replaced it; the store itself keeps the extra certificates.
    const untouched = process.env["NODE_EXTRA_CA_CERTS"] ? extra : [];
    const same = defaults.length === untouched.length && defaults.every((pem, i) => pem === untouched[i]);
    if (!same) {
      const found = fromPems(defaults);
      return {
        ders: found.ders,
        exactPems: found.pems,
        addBackPems: [],
        source: "getCACertificates",
        store,
        limits,
      };
    }
    const openssl = opensslStoreNow(limits);
    const extras = fromPems(extra);
    const pems = [...openssl.pems, ...extras.pems];
    return {
      ders: [...openssl.ders, ...extras.ders],
      exactPems: pems,
      addBackPems: [],
      source: "openssl-store",
      store,
      limits,
    };
  }
  const extras = startupExtraCertificates(limits, warn);
  if (store === "openssl") {
    const openssl = opensslStoreNow(limits);
    return {
      ders: [...openssl.ders, ...extras.ders],
      exactPems: [...openssl.pems, ...extras.pems],
      addBackPems: [],
      source: "openssl-store",
      store,
      limits,
    };
  }
  if (store === "system") {
    limits.push(
      "--use-system-ca is set but this Node has no tls.getCACertificates() to list the system store: keypin " +
        "trusts the bundled roots and NODE_EXTRA_CA_CERTS only. Use Node 22.15 or later, or give the CA in `ca`.",
    );
  }
  const ders: Uint8Array[] = [];
  for (const pem of tls.rootCertificates) ders.push(...certificatesOf(pem).ders);
  ders.push(...extras.ders);
  return { ders, exactPems: undefined, addBackPems: extras.pems, source: "bundled", store, limits };
}
