// The plain-data types of @keypin/core. Re-exported from index.ts.

/**
 * A synchronous SHA-256: bytes in, 32 bytes out. Core never hashes by itself: pass node:crypto's in Node
 * (`@keypin/node` exports one) and `@noble/hashes`'s `sha256` in React Native and browsers.
 *
 * A platform that can also give the digest as standard base64 in one native call may add it as `base64`
 * (node:crypto's `crypto.hash(…, "base64")`): pins then skip both the digest's byte array and the base64
 * written in JavaScript, which together cost more than the hash itself in Node (bench target 3).
 *
 * @example
 * ```ts
 * import { sha256 } from "@noble/hashes/sha2.js";
 * const hash: Sha256 = sha256;
 * ```
 */
export interface Sha256 {
  (data: Uint8Array): Uint8Array;
  /** The same digest as the 44 characters of its standard, padded base64. Optional. */
  base64?: (data: Uint8Array) => string;
}

/**
 * A public-key pin: `sha256/` followed by the standard base64 of the SHA-256 of a DER SubjectPublicKeyInfo.
 *
 * @example
 * ```ts
 * const pin: Pin = parsePin("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
 * ```
 */
export type Pin = `sha256/${string}`;

/**
 * What a pin is for. `backup` marks a key that is not in the current chain (kept offline for rotation).
 *
 * @example
 * ```ts
 * const role: PinRole = "backup";
 * ```
 */
export type PinRole = "leaf" | "intermediate" | "root" | "backup";

/**
 * A keypin.json file as written by people (before validation).
 *
 * @example
 * ```ts
 * const file: PolicyFile = { domains: { "api.myapp.com": { pins: ["sha256/…", { pin: "sha256/…", role: "backup" }] } } };
 * ```
 */
export interface PolicyFile {
  $schema?: string;
  domains: Record<string, DomainPolicyInput>;
}

/**
 * One domain entry of a keypin.json file, as written.
 *
 * @example
 * ```ts
 * const entry: DomainPolicyInput = { includeSubdomains: true, pins: ["sha256/…", "sha256/…"], expires: "2027-06-30" };
 * ```
 */
export interface DomainPolicyInput {
  includeSubdomains?: boolean;
  pins: (string | { pin: string; role?: PinRole; label?: string })[];
  expires?: string;
  mode?: "enforce" | "report-only";
  reportUris?: string[];
  /** How the host's certificate is renewed: `reuseKey` when every renewal keeps the leaf key (certbot `--reuse-key`). */
  renewal?: { reuseKey: boolean };
}

/**
 * A validated, normalized pin of a policy.
 *
 * @example
 * ```ts
 * const key: PinnedKey = { pin: "sha256/…", role: "backup", label: "offline key, 2026" };
 * ```
 */
export interface PinnedKey {
  pin: Pin;
  role?: PinRole;
  label?: string;
}

/**
 * A validated domain entry. `domain` is canonical: lowercase, no trailing dot, IPv6 without brackets.
 * `key` is the domain key exactly as written in the file (used for JSON Pointer paths).
 *
 * @example
 * ```ts
 * const d: DomainPolicy = { domain: "api.myapp.com", includeSubdomains: false, pins: [], mode: "enforce", reportUris: [] };
 * ```
 */
export interface DomainPolicy {
  domain: string;
  includeSubdomains: boolean;
  pins: PinnedKey[];
  expires?: string;
  mode: "enforce" | "report-only";
  reportUris: string[];
  /**
   * How the host's certificate is renewed, when the policy says: `reuseKey` is true when every renewal keeps
   * the leaf key (certbot `--reuse-key`). Not a pin: exporters ignore it; `keypin plan` and lint read it.
   */
  renewal?: { reuseKey: boolean };
  key?: string;
}

/**
 * A validated policy: the domain entries in file order. Pinning clients never trust an object merely
 * shaped like one: they run it through {@link normalizePolicy}, which validates it and keeps a frozen copy.
 *
 * @example
 * ```ts
 * const { policy } = parsePolicy(JSON.parse(text));
 * ```
 */
export interface Policy {
  domains: DomainPolicy[];
}

/**
 * One validation problem. `path` is a JSON Pointer (RFC 6901) into the policy, e.g. `/domains/api.myapp.com/pins/1`.
 *
 * @example
 * ```ts
 * const p: PolicyProblem = { path: "/domains/api.myapp.com/pins/1", message: "…" };
 * ```
 */
export interface PolicyProblem {
  path: string;
  message: string;
}

/**
 * A lint warning: the policy is valid and still pins, but is risky. `code` is one of `too-few-pins`,
 * `no-backup-pin`, `expired`, `weaker-subdomain`. (Two entries for one host are a validation error, not a
 * lint warning.)
 *
 * @example
 * ```ts
 * for (const f of lintPolicy(policy)) console.warn(`${f.code} ${f.path}: ${f.message}`);
 * ```
 */
export interface LintFinding {
  code: string;
  path: string;
  message: string;
  domain?: string;
  /** For a platform rule (lintPolicy's `platforms`): the platform it is about, e.g. `ios-ats`. */
  platform?: string;
}

/**
 * The outcome of {@link validatePolicy}.
 *
 * @example
 * ```ts
 * const r: PolicyValidation = validatePolicy(json);
 * if (!r.ok) console.error(r.problems);
 * ```
 */
export type PolicyValidation =
  | { ok: true; policy: Policy; warnings: LintFinding[] }
  | { ok: false; problems: PolicyProblem[] };

/**
 * One certificate of a verified chain, as {@link evaluateChain} needs it.
 *
 * @example
 * ```ts
 * const entry: ChainEntry = { subject: info.subject, pin: computePin(info.spki, sha256) };
 * ```
 */
export interface ChainEntry {
  subject: string;
  pin: Pin;
}

/**
 * The verdict on a verified chain for a host. Data, never an exception: switch on `verdict`.
 *
 * @example
 * ```ts
 * switch (v.verdict) {
 *   case "pinned": break;
 *   case "mismatch": if (v.enforced) throw new Error("pin mismatch"); break;
 *   case "not-pinned": break;
 *   default: { const never: never = v; throw new Error(String(never)); }
 * }
 * ```
 */
export type PinVerdict =
  | {
      verdict: "pinned";
      host: string;
      domain: string;
      matched: { position: number; subject: string; pin: Pin };
      chainPins: ChainEntry[];
    }
  | {
      verdict: "mismatch";
      host: string;
      domain: string;
      enforced: boolean;
      chainPins: ChainEntry[];
      expectedPins: Pin[];
    }
  | { verdict: "not-pinned"; host: string; reason: "no-policy" | "expired"; domain?: string };

/**
 * A pin-validation failure report: RFC 7469 §3 fields plus TrustKit's `enforce-pinning`,
 * `validation-result` and an optional `app` block.
 *
 * @example
 * ```ts
 * const body = JSON.stringify(report satisfies PinFailureReport);
 * ```
 */
export interface PinFailureReport {
  "date-time": string;
  hostname: string;
  port: number;
  "effective-expiration-date"?: string;
  "include-subdomains": boolean;
  "noted-hostname": string;
  "served-certificate-chain": string[];
  "validated-certificate-chain": string[];
  "known-pins": string[];
  "enforce-pinning": boolean;
  "validation-result": number;
  app?: Record<string, string>;
}
