// Validating a whole policy, in keypin.json's form or the normalized one, and parsePolicy, which throws.
import { PolicyError } from "../errors.js";
import { normalizeHost } from "../host.js";
import type { DomainPolicy, LintFinding, Policy, PolicyProblem, PolicyValidation } from "../types.js";
import { checkDuplicate, domainKeyProblem } from "./domain-key.js";
import { lintPolicy } from "./lint.js";
import { describe, fieldsOf, isPlainObject, itemsOf, jsonPointer, unknownFields } from "./read.js";
import { DOMAIN_FIELDS, validateDomain } from "./validate-domain.js";

const TOP_FIELDS = ["$schema", "domains"];

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

/**
 * Validates either form (`"any"`: keypin.json or a normalized policy; `"file"`: keypin.json only), then lints.
 * A getter or proxy that throws while being read is one problem, not an exception.
 */
export function validateInput(
  value: unknown,
  forms: "file" | "any",
  options?: { now?: Date },
): PolicyValidation {
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
