// normalizePolicy: a policy in either form, validated, as a private deep-frozen copy.
import { PolicyError } from "../errors.js";
import type { DomainPolicy, LintFinding, PinnedKey, Policy } from "../types.js";
import { validateInput } from "./validate.js";

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
      ...(d.renewal ? { renewal: bare({ ...d.renewal }) } : {}),
    }),
  );
  return bare({ domains: Object.freeze(domains) as DomainPolicy[] });
}
