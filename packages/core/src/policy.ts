import { PolicyError } from "./errors.js";
import { isIpAddress, normalizeHost } from "./host.js";
import {
  DATE_PATTERN,
  HOSTNAME_PATTERN,
  IPV4_PATTERN,
  IPV6_PATTERN,
  PIN_PATTERN,
  REPORT_URI_PATTERN,
} from "./patterns.js";
import { parsePin } from "./pin.js";
import { aceLabelProblem, hostToAscii } from "./punycode.js";
import type {
  DomainPolicy,
  LintFinding,
  PinnedKey,
  PinRole,
  Policy,
  PolicyProblem,
  PolicyValidation,
} from "./types.js";

const HOSTNAME = new RegExp(HOSTNAME_PATTERN, "u");
const IPV4 = new RegExp(IPV4_PATTERN, "u");
const IPV6 = new RegExp(IPV6_PATTERN, "u");
const PIN = new RegExp(PIN_PATTERN, "u");
const DATE = new RegExp(DATE_PATTERN, "u");
const REPORT_URI = new RegExp(REPORT_URI_PATTERN, "u");

const TOP_FIELDS = ["$schema", "domains"];
const DOMAIN_FIELDS = ["includeSubdomains", "pins", "expires", "mode", "reportUris"];
const PIN_FIELDS = ["pin", "role", "label"];
const ROLES: readonly PinRole[] = ["leaf", "intermediate", "root", "backup"];

/** A JSON Pointer (RFC 6901) from path segments. */
export function jsonPointer(...segments: (string | number)[]): string {
  return segments.map((s) => `/${String(s).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string")
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === "object") return "an object";
  if (typeof v === "function") return "a function";
  return `${typeof v} ${String(v)}`;
}

function closest(name: string, options: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const o of options) {
    const d = editDistance(lower, o.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = o;
    }
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function unknownFields(
  value: Record<string, unknown>,
  allowed: readonly string[],
  path: (string | number)[],
  problems: PolicyProblem[],
): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const hint = closest(key, allowed);
    problems.push({
      path: jsonPointer(...path, key),
      message: `unknown field "${key}"${hint ? `: did you mean "${hint}"?` : ""} Allowed: ${allowed.join(", ")}. Unknown fields are errors so that a typo never weakens pinning.`,
    });
  }
}

/** Why a domain key is not acceptable, or undefined when it is. */
function domainKeyProblem(key: string): string | undefined {
  if (HOSTNAME.test(key)) {
    for (const label of key.split(".")) {
      const problem = aceLabelProblem(label);
      if (problem !== undefined) {
        return `"${key}": its label "${label}" ${problem}, so no URL can name it: copy the name's xn-- form from new URL("https://<name>").hostname`;
      }
    }
    return undefined;
  }
  if (IPV4.test(key) || IPV6.test(key)) return undefined;
  if (/[^\u0000-\u007f]/.test(key)) {
    return `"${key}" is not ASCII: write the internationalized name in its xn-- (punycode) form, "${hostToAscii(key)}"`;
  }
  if (key.includes("*")) {
    return `"${key}" has a wildcard; wildcards are not allowed: use the parent domain with "includeSubdomains": true`;
  }
  if (key === "") return "the domain name is empty";
  if (/[:/]/.test(key) && /^[a-z]+:\/\//i.test(key)) return `"${key}" is a URL; use only its host name`;
  if (/:\d+$/.test(key) && !key.includes("::")) return `"${key}" has a port; use only the host name`;
  if (/^[0-9.]+$/.test(key))
    return `"${key}" is not a valid IPv4 address (four numbers 0–255 without leading zeros)`;
  if (key.includes(":")) return `"${key}" is not a valid IPv6 address`;
  return `"${key}" is not a valid host name (labels of letters, digits and hyphens, 1–63 characters, not starting or ending with a hyphen; the last label not all digits; 253 characters at most)`;
}

/** yyyy-MM-dd → the first millisecond after that UTC day. */
export function endOfDay(expires: string): number {
  const [y, m, d] = expires.split("-").map(Number) as [number, number, number];
  return Date.UTC(y, m - 1, d + 1);
}

/** A policy's own fields, each read exactly once: later reads of a getter or a proxy cannot change what was checked. */
type Fields = Record<string, unknown>;

function fieldsOf(value: object): Fields {
  const fields: Fields = Object.create(null);
  for (const key of Object.keys(value)) fields[key] = (value as Fields)[key];
  return fields;
}

/** The items of an array, each read once, or undefined (with a problem) when it has holes or extra properties. */
function itemsOf(
  value: unknown[],
  path: (string | number)[],
  problems: PolicyProblem[],
): unknown[] | undefined {
  const length = value.length;
  // An array's own keys are its present indices in ascending order, then any other property names.
  const keys = Object.keys(value);
  let problem: string | undefined;
  for (let i = 0; i < keys.length && problem === undefined; i++) {
    const key = keys[i]!;
    if (key === String(i)) continue;
    problem = /^(?:0|[1-9][0-9]*)$/.test(key)
      ? `the list has an empty slot at index ${i} (a sparse array): every item must be present`
      : `the list has a property "${key.length > 40 ? `${key.slice(0, 37)}...` : key}" that is not an item: give a plain array`;
  }
  if (problem === undefined && keys.length < length) {
    problem = `the list has an empty slot at index ${keys.length} (a sparse array): every item must be present`;
  }
  if (problem !== undefined) {
    problems.push({ path: jsonPointer(...path), message: problem });
    return undefined;
  }
  const items: unknown[] = [];
  for (let i = 0; i < length; i++) items.push(value[i]);
  return items;
}

/**
 * Validates an already-parsed keypin.json value (e.g. from `JSON.parse`) and normalizes it. Reports
 * every problem with its JSON Pointer; unknown fields are errors, and so are two keys that name the same
 * host (differing in case, a trailing dot or an IP address's spelling). On success, also returns the lint
 * warnings of {@link lintPolicy}. Each field is read once, and the result is a fresh copy. Never throws.
 *
 * @example
 * ```ts
 * const result = validatePolicy(JSON.parse(text));
 * if (!result.ok) for (const p of result.problems) console.error(`${p.path}: ${p.message}`);
 * else for (const w of result.warnings) console.warn(w.message);
 * ```
 */
export function validatePolicy(value: unknown, options?: { now?: Date }): PolicyValidation {
  return validateInput(value, "file", options);
}

function validateInput(value: unknown, forms: "file" | "any", options?: { now?: Date }): PolicyValidation {
  const problems: PolicyProblem[] = [];
  let domains: DomainPolicy[];
  try {
    const found = validateTop(value, forms, problems);
    if (!found) return { ok: false, problems };
    domains = found;
  } catch (error) {
    // A getter or a proxy in a policy built in code threw: the policy cannot be read, so it cannot pin.
    problems.push({
      path: "",
      message: `reading the policy threw (${error instanceof Error ? `${error.name}: ${error.message}` : typeof error}): give plain data`,
    });
    return { ok: false, problems };
  }
  if (problems.length > 0) return { ok: false, problems };
  const policy: Policy = { domains };
  return { ok: true, policy, warnings: lintPolicy(policy, options) };
}

function validateTop(
  value: unknown,
  forms: "file" | "any",
  problems: PolicyProblem[],
): DomainPolicy[] | undefined {
  const domains: DomainPolicy[] = [];
  if (!isPlainObject(value)) {
    problems.push({
      path: "",
      message: `a keypin policy is a JSON object with "domains"; found ${describe(value)}`,
    });
    return undefined;
  }
  const top = fieldsOf(value);
  const seen = new Map<string, string>();
  if (forms === "any" && Array.isArray(top.domains)) {
    // A normalized Policy (from parsePolicy, or built in code): the same rules, with the host in "domain".
    unknownFields(top, ["domains"], [], problems);
    const entries = itemsOf(top.domains, ["domains"], problems) ?? [];
    entries.forEach((entry, i) => {
      const d = validateNormalizedDomain(i, entry, seen, problems);
      if (d) domains.push(d);
    });
    return domains;
  }
  unknownFields(top, TOP_FIELDS, [], problems);
  if (Object.hasOwn(top, "$schema") && typeof top.$schema !== "string") {
    problems.push({
      path: "/$schema",
      message: `"$schema" must be a string; found ${describe(top.$schema)}`,
    });
  }
  if (!Object.hasOwn(top, "domains")) {
    problems.push({ path: "", message: `missing "domains": an object mapping host names to their pins` });
  } else if (!isPlainObject(top.domains)) {
    problems.push({
      path: "/domains",
      message: `"domains" must be an object mapping host names to pins; found ${describe(top.domains)}`,
    });
  } else {
    const entries = Object.entries(fieldsOf(top.domains));
    if (entries.length === 0) {
      problems.push({ path: "/domains", message: `"domains" is empty: add at least one host with its pins` });
    }
    for (const [key, entry] of entries) {
      const base = ["domains", key];
      const keyProblem = domainKeyProblem(key);
      if (keyProblem) problems.push({ path: jsonPointer(...base), message: keyProblem });
      else checkDuplicate(key, base, seen, problems);
      if (!isPlainObject(entry)) {
        problems.push({
          path: jsonPointer(...base),
          message: `a domain entry must be an object with "pins"; found ${describe(entry)}`,
        });
        continue;
      }
      const fields = fieldsOf(entry);
      unknownFields(fields, DOMAIN_FIELDS, base, problems);
      const d = validateDomain(base, fields, problems, keyProblem !== undefined);
      if (d) domains.push({ ...d, domain: normalizeHost(key), key });
    }
  }
  return domains;
}

const NORMALIZED_DOMAIN_FIELDS = ["domain", "key", ...DOMAIN_FIELDS];

function validateNormalizedDomain(
  index: number,
  entry: unknown,
  seen: Map<string, string>,
  problems: PolicyProblem[],
): DomainPolicy | undefined {
  const base = ["domains", index];
  if (!isPlainObject(entry)) {
    problems.push({
      path: jsonPointer(...base),
      message: `a domain entry must be an object with "domain" and "pins"; found ${describe(entry)}`,
    });
    return undefined;
  }
  const fields = fieldsOf(entry);
  unknownFields(fields, NORMALIZED_DOMAIN_FIELDS, base, problems);
  const name = fields.domain;
  let failed = false;
  if (typeof name !== "string") {
    problems.push({
      path: jsonPointer(...base, "domain"),
      message: `"domain" must be the host name or IP address the entry pins; found ${describe(name)}`,
    });
    failed = true;
  } else {
    const keyProblem = domainKeyProblem(name);
    if (keyProblem) {
      problems.push({ path: jsonPointer(...base, "domain"), message: keyProblem });
      failed = true;
    } else checkDuplicate(name, base, seen, problems);
  }
  let key: string | undefined;
  if (Object.hasOwn(fields, "key")) {
    const k = fields.key;
    if (typeof k !== "string" || (typeof name === "string" && normalizeHost(k) !== normalizeHost(name))) {
      problems.push({
        path: jsonPointer(...base, "key"),
        message: `"key" is the domain as written in keypin.json and must name the same host as "domain"; found ${describe(k)}`,
      });
      failed = true;
    } else key = k;
  }
  const d = validateDomain(base, fields, problems, failed);
  if (!d || typeof name !== "string") return undefined;
  const domain: DomainPolicy = { ...d, domain: normalizeHost(name) };
  if (key !== undefined) domain.key = key;
  return domain;
}

/** Two entries for one host: an error, since only one of them could ever apply. */
function checkDuplicate(
  name: string,
  base: (string | number)[],
  seen: Map<string, string>,
  problems: PolicyProblem[],
): void {
  const canonical = normalizeHost(name);
  const first = seen.get(canonical);
  if (first === undefined) {
    seen.set(canonical, name);
    return;
  }
  problems.push({
    path: jsonPointer(...base),
    message: `"${name}" is the same host as "${first}" (${canonical}): host names compare without case or trailing dots, IP addresses by value, so only one entry could apply. Merge the two entries into one`,
  });
}

const MODES = ["enforce", "report-only"];

/** The fields every domain entry shares, read from a snapshot. `failed`: a problem was already found. */
function validateDomain(
  base: (string | number)[],
  entry: Fields,
  problems: PolicyProblem[],
  failed: boolean,
): Omit<DomainPolicy, "domain"> | undefined {
  const before = problems.length;
  let includeSubdomains = false;
  if (Object.hasOwn(entry, "includeSubdomains")) {
    const value = entry.includeSubdomains;
    if (typeof value === "boolean") includeSubdomains = value;
    else {
      problems.push({
        path: jsonPointer(...base, "includeSubdomains"),
        message: `"includeSubdomains" must be true or false; found ${describe(value)}`,
      });
    }
  }
  const pins: PinnedKey[] = [];
  if (!Object.hasOwn(entry, "pins")) {
    problems.push({
      path: jsonPointer(...base),
      message: `missing "pins": a list of at least one sha256/ pin`,
    });
  } else if (!Array.isArray(entry.pins)) {
    problems.push({
      path: jsonPointer(...base, "pins"),
      message: `"pins" must be an array; found ${describe(entry.pins)}`,
    });
  } else {
    const items = itemsOf(entry.pins, [...base, "pins"], problems);
    if (items?.length === 0) {
      problems.push({
        path: jsonPointer(...base, "pins"),
        message: `"pins" is empty: list at least one pin (two when enforcing, one a backup)`,
      });
    }
    items?.forEach((item: unknown, i: number) => {
      const p = validatePinItem(item, [...base, "pins", i], problems);
      if (p) pins.push(p);
    });
  }
  let expires: string | undefined;
  if (Object.hasOwn(entry, "expires")) {
    const path = jsonPointer(...base, "expires");
    const value = entry.expires;
    if (typeof value !== "string") {
      problems.push({
        path,
        message: `"expires" must be a date string yyyy-MM-dd; found ${describe(value)}`,
      });
    } else if (!DATE.test(value)) {
      problems.push({
        path,
        message: `"expires" is ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}: expected a real calendar date as yyyy-MM-dd (UTC), e.g. "2027-06-30"`,
      });
    } else expires = value;
  }
  let mode: "enforce" | "report-only" = "enforce";
  if (Object.hasOwn(entry, "mode")) {
    const value = entry.mode;
    if (value === "enforce" || value === "report-only") mode = value;
    else {
      const hint = typeof value === "string" ? closest(value, MODES) : undefined;
      problems.push({
        path: jsonPointer(...base, "mode"),
        message: `"mode" must be "enforce" or "report-only" (leave it out to enforce); found ${describe(value)}${hint ? `: did you mean "${hint}"?` : ""} An unknown mode is an error so that a typo never switches pinning off`,
      });
    }
  }
  const reportUris: string[] = [];
  if (Object.hasOwn(entry, "reportUris")) {
    const value = entry.reportUris;
    if (!Array.isArray(value)) {
      problems.push({
        path: jsonPointer(...base, "reportUris"),
        message: `"reportUris" must be an array of https:// URLs; found ${describe(value)}`,
      });
    } else {
      itemsOf(value, [...base, "reportUris"], problems)?.forEach((uri: unknown, i: number) => {
        if (typeof uri === "string" && REPORT_URI.test(uri)) reportUris.push(uri);
        else {
          problems.push({
            path: jsonPointer(...base, "reportUris", i),
            message: `a report URI must be an http:// or https:// URL without spaces; found ${describe(uri)}`,
          });
        }
      });
    }
  }
  if (failed || problems.length > before) return undefined;
  const domain: Omit<DomainPolicy, "domain"> = { includeSubdomains, pins, mode, reportUris };
  if (expires !== undefined) domain.expires = expires;
  return domain;
}
function validatePinText(
  value: unknown,
  path: string,
  problems: PolicyProblem[],
): PinnedKey["pin"] | undefined {
  if (typeof value !== "string") {
    problems.push({
      path,
      message: `a pin must be a string like "sha256/<base64>"; found ${describe(value)}`,
    });
    return undefined;
  }
  let reason: string | undefined;
  try {
    const pin = parsePin(value);
    if (PIN.test(value)) return pin;
    reason = `pin ${JSON.stringify(value)} must be written exactly as "sha256/<base64>" (no spaces or other spellings); its canonical form is "${pin}"`;
  } catch (e) {
    reason = e instanceof Error ? e.message : String(e);
  }
  problems.push({ path, message: reason });
  return undefined;
}

function validatePinItem(
  value: unknown,
  path: (string | number)[],
  problems: PolicyProblem[],
): PinnedKey | undefined {
  if (!isPlainObject(value)) {
    const pin = validatePinText(value, jsonPointer(...path), problems);
    return pin ? { pin } : undefined;
  }
  const item = fieldsOf(value);
  const before = problems.length;
  unknownFields(item, PIN_FIELDS, path, problems);
  let pin: PinnedKey["pin"] | undefined;
  if (!Object.hasOwn(item, "pin"))
    problems.push({ path: jsonPointer(...path), message: `missing "pin" in the pin object` });
  else pin = validatePinText(item.pin, jsonPointer(...path, "pin"), problems);
  const result: Partial<PinnedKey> = {};
  if (Object.hasOwn(item, "role")) {
    const role = item.role;
    if (ROLES.includes(role as PinRole)) result.role = role as PinRole;
    else {
      problems.push({
        path: jsonPointer(...path, "role"),
        message: `"role" must be one of ${ROLES.map((r) => `"${r}"`).join(", ")}; found ${describe(role)}`,
      });
    }
  }
  if (Object.hasOwn(item, "label")) {
    const label = item.label;
    if (typeof label === "string") result.label = label;
    else
      problems.push({
        path: jsonPointer(...path, "label"),
        message: `"label" must be a string; found ${describe(label)}`,
      });
  }
  if (problems.length > before || !pin) return undefined;
  return { pin, ...result };
}

/**
 * Like {@link validatePolicy}, but throws a {@link PolicyError} (code `ERR_KEYPIN_POLICY`) listing every problem.
 *
 * @example
 * ```ts
 * const { policy, warnings } = parsePolicy(JSON.parse(readFileSync("keypin.json", "utf8")));
 * ```
 */
export function parsePolicy(
  value: unknown,
  options?: { now?: Date },
): { policy: Policy; warnings: LintFinding[] } {
  const result = validatePolicy(value, options);
  if (!result.ok) throw new PolicyError(result.problems);
  return { policy: result.policy, warnings: result.warnings };
}

/**
 * Validates a policy in either form and returns a private, deep-frozen copy: a keypin.json object
 * (checked as {@link parsePolicy} checks it) or a normalized {@link Policy} (from `parsePolicy`, or built in
 * code, with `domains` as an array of entries that name their host in `domain`). A normalized policy is held
 * to the same rules as keypin.json: unknown fields, an unknown `mode`, malformed pins or dates, holes in a
 * list, and two entries for one host are errors; a missing `mode` means `enforce`, a missing
 * `includeSubdomains` false. An empty `domains` list pins nothing. Each field is read once, so getters and
 * proxies cannot change a value after its check; the copy's objects have no prototype, so a polluted
 * `Object.prototype` (an inherited `mode` or `expires`) cannot change it, and later changes to the input do
 * not reach it. Pinning clients call it on whatever policy they are given. Throws {@link PolicyError}.
 *
 * @example
 * ```ts
 * const { policy } = normalizePolicy(parsePolicy(json).policy); // a copy nobody else can change
 * normalizePolicy({ domains: [{ domain: "api.myapp.com", pins: [{ pin }], mode: "enforced" }] }); // throws: unknown mode
 * ```
 */
export function normalizePolicy(
  value: unknown,
  options?: { now?: Date },
): { policy: Policy; warnings: LintFinding[] } {
  const result = validateInput(value, "any", options);
  if (!result.ok) throw new PolicyError(result.problems);
  return { policy: frozenCopy(result.policy), warnings: result.warnings };
}

function bare<T extends object>(fields: T): T {
  return Object.freeze(Object.assign(Object.create(null) as T, fields));
}

function frozenCopy(policy: Policy): Policy {
  const domains = policy.domains.map((d) =>
    bare({
      ...d,
      pins: Object.freeze(d.pins.map((p) => bare({ ...p }))) as PinnedKey[],
      reportUris: Object.freeze([...d.reportUris]) as string[],
    }),
  );
  return bare({ domains: Object.freeze(domains) as DomainPolicy[] });
}

function isExpired(d: DomainPolicy, now: Date): boolean {
  return d.expires !== undefined && now.getTime() >= endOfDay(d.expires);
}

/**
 * Risky but valid settings: `too-few-pins` (an enforced domain with fewer than two pins), `no-backup-pin`
 * (no pin has role `backup`), `expired` (`expires` has passed: the domain is no longer pinned),
 * `weaker-subdomain` (a more specific entry is expired or report-only under an enforced parent
 * with `includeSubdomains`, so it switches pinning off or down for its hosts).
 *
 * @example
 * ```ts
 * for (const f of lintPolicy(policy, { now: new Date() })) console.warn(`${f.code} at ${f.path}: ${f.message}`);
 * ```
 */
export function lintPolicy(policy: Policy, options?: { now?: Date }): LintFinding[] {
  const now = options?.now ?? new Date();
  const findings: LintFinding[] = [];
  const seen = new Map<string, DomainPolicy>();
  for (const d of policy.domains) {
    const key = d.key ?? d.domain;
    const canonical = normalizeHost(d.domain);
    // Two entries for one host are a validation error; a policy built by hand that has them anyway is
    // linted as host lookup uses it: the first entry wins.
    if (seen.has(canonical)) continue;
    seen.set(canonical, d);
    const expired = isExpired(d, now);
    if (expired) {
      findings.push({
        code: "expired",
        path: jsonPointer("domains", key, "expires"),
        domain: canonical,
        message: `the pins of "${key}" expired at the end of ${d.expires} (UTC): the domain is NOT pinned any more. Update the pins and move "expires" forward`,
      });
    }
    if (d.mode === "enforce" && d.pins.length < 2) {
      findings.push({
        code: "too-few-pins",
        path: jsonPointer("domains", key, "pins"),
        domain: canonical,
        message: `"${key}" enforces ${d.pins.length} pin; enforce at least two (the current key and a backup) or a key rotation locks every installed app out (TrustKit refuses fewer than two)`,
      });
    }
    if (!d.pins.some((p) => p.role === "backup")) {
      findings.push({
        code: "no-backup-pin",
        path: jsonPointer("domains", key, "pins"),
        domain: canonical,
        message: `"${key}" has no pin with "role": "backup": add the pin of a key you keep offline (not in the current chain) so you can rotate keys without locking apps out`,
      });
    }
  }
  const unique = [...seen.entries()];
  for (const [canonical, d] of unique) {
    if (isIpAddress(canonical)) continue;
    const weakness = isExpired(d, now) ? "expired" : d.mode === "report-only" ? "report-only" : undefined;
    if (!weakness) continue;
    let rest = canonical;
    for (let dot = rest.indexOf("."); dot >= 0; dot = rest.indexOf(".")) {
      rest = rest.slice(dot + 1);
      const parent = seen.get(rest);
      if (!parent?.includeSubdomains) continue;
      if (parent.mode === "enforce" && !isExpired(parent, now)) {
        const key = d.key ?? d.domain;
        findings.push({
          code: "weaker-subdomain",
          path: jsonPointer("domains", key),
          domain: canonical,
          message: `"${key}" is ${weakness} while its parent "${parent.key ?? parent.domain}" enforces pins with includeSubdomains; the more specific entry wins, so "${key}"${d.includeSubdomains ? " and its subdomains" : ""} ${weakness === "expired" ? "are not pinned at all" : "only report mismatches"}`,
        });
      }
      break;
    }
  }
  return findings;
}
