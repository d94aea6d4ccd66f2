import type { Pin, PinRole } from "@keypin/core";
import type { RenewalWindow } from "./ari.js";

/**
 * A CA family that issues from several interchangeable intermediates (the CLI keeps the sourced table), as far
 * as the planner needs it.
 *
 * @example
 * const le: PlanCaFamily = { id: "letsencrypt", name: "Let's Encrypt", intermediateNames: "R10–R14, E5–E9", roots: ["ISRG Root X1", "ISRG Root X2"] };
 */
export interface PlanCaFamily {
  id: string;
  name: string;
  /** How the interchangeable intermediates are named, for messages. */
  intermediateNames: string;
  /** Common names of the family's roots. */
  roots: readonly string[];
}

/**
 * One certificate of a host's live path (leaf first, then its issuers up to the anchor), as plain data.
 *
 * @example
 * const cert: PlanCertificate = { subject: "CN=api.myapp.com", issuer: "CN=R11, O=Let's Encrypt", pin: "sha256/…", notBefore, notAfter };
 */
export interface PlanCertificate {
  subject: string;
  issuer: string;
  pin: Pin;
  notBefore: Date;
  notAfter: Date;
  /** The subject is its own issuer (a root, or the self-signed end of the path). */
  selfSigned?: boolean;
  /** The family whose rotating intermediates include this certificate (for the leaf's issuer). */
  rotatingFamily?: PlanCaFamily;
  /** The family one of whose roots this certificate is (self-signed, or cross-signed by another root). */
  rootOf?: PlanCaFamily;
}

/**
 * What the planner knows about one host: its policy entry, its live path, and how its certificates renew.
 *
 * @example
 * const host: PlanHostInput = { host: "api.myapp.com", port: 443, domain: "api.myapp.com", mode: "enforce", pins, path, reuseKey: false };
 */
export interface PlanHostInput {
  host: string;
  port: number;
  /** The policy entry that applies (its `domain`). */
  domain: string;
  mode: "enforce" | "report-only";
  pins: readonly { pin: Pin; role?: PinRole; label?: string }[];
  /** The verified path, leaf first; absent when the host could not be read (then `error` says why). */
  path?: readonly PlanCertificate[];
  error?: string;
  /** Renewals keep the leaf's key (certbot `--reuse-key`, a CSR made once from a kept key). */
  reuseKey: boolean;
  /**
   * Who says renewals keep the key: the policy (keypin.json's `"renewal": { "reuseKey": true }`) or an option
   * of the run (`keypin plan --reuse-key`). Only for messages; absent means the caller did not say.
   */
  reuseKeyFrom?: "policy" | "option";
  /** The renewal window the CA suggests for the leaf (ARI, RFC 9773), when known. */
  ari?: RenewalWindow;
  /** The leaf's ARI identifier (RFC 9773 §4.1), for the user to fetch its renewalInfo. */
  ariCertId?: string;
}

/**
 * How the app reaches its users.
 *
 * @example
 * const options: PlanOptions = { now: new Date(), releaseDays: 14, adoptionDays: 90 };
 */
export interface PlanOptions {
  now: Date;
  /** Days from merging a change to the release being in the stores, review included. */
  releaseDays: number;
  /** Days from a release until the versions before it no longer matter (their users updated or left). */
  adoptionDays: number;
  /** How far ahead to project renewals (days from `now`); default 730. */
  horizonDays?: number;
}

/**
 * Why a pinned key is expected to leave the live path:
 * - `leaf-renewal`: the leaf is renewed with a new key (the default of ACME clients and CDNs);
 * - `ari-renewal`: the same, brought forward by the CA's renewal window (ARI);
 * - `family-rotation`: the CA issues each certificate from one of several intermediates;
 * - `issuer-end-of-life`: the next leaf would outlive this CA certificate, so the CA issues from another;
 * - `cross-sign-expiry`: the path reaches this key through a cross-signed certificate that expires;
 * - `expiry`: the certificate itself expires.
 */
export type ChangeReason =
  | "leaf-renewal"
  | "ari-renewal"
  | "family-rotation"
  | "issuer-end-of-life"
  | "cross-sign-expiry"
  | "expiry";

/** A finding about a host's plan: a risk, a consequence of the schedule, or a deadline. */
export interface PlanFinding {
  code:
    | "leaf-key-changes"
    | "family-intermediate"
    | "issuer-end-of-life"
    | "cross-signed-root"
    | "root-one-side"
    | "single-ca"
    | "ari-window"
    | "ari-exposure"
    | "lifetime-schedule"
    | "deadline-passed"
    | "no-pin-in-path"
    | "use-backup"
    | "reuse-key"
    | "reuse-key-broken";
  severity: "error" | "warning" | "info";
  message: string;
  /** The day the finding is about (a key change, a schedule step, a deadline). */
  date?: Date;
  /** The pin it is about. */
  pin?: Pin;
}

/**
 * One pin of a host's plan.
 *
 * @example
 * plan.hosts[0].pins.map((p) => `${p.pin} ${p.changesAt?.toISOString() ?? "stays"}`);
 */
export interface PinPlan {
  pin: Pin;
  role?: PinRole;
  label?: string;
  /** Where the key is in the live path (0 = leaf), absent when the live path does not carry it. */
  position?: number;
  /** The subject of the certificate carrying the key. */
  subject?: string;
  /** When that certificate expires. */
  notAfter?: Date;
  /** When the key is expected to leave the live path (absent: not within the horizon). */
  changesAt?: Date;
  reason?: ChangeReason;
  /**
   * From when releases may drop this pin: once the server no longer serves the key (`changesAt`). Dropping it
   * earlier breaks the new release until then.
   */
  removableAfter?: Date;
}

/**
 * Where a host stands:
 * - `stable`: a pinned key stays in the live path for the whole horizon;
 * - `planned`: the pins stop matching on `breaksAt`, and there is still time to release the next pin;
 * - `late`: a release merged today is not in users' hands in time (`shipBy` falls inside the release lead time, or has passed);
 * - `mismatch`: no pin of the policy matches the live path today;
 * - `error`: the live path could not be read.
 */
export type HostStatus = "stable" | "planned" | "late" | "mismatch" | "error";

/**
 * The plan of one host.
 *
 * @example
 * for (const h of plan.hosts) console.log(h.host, h.status, h.mergeBy?.toISOString().slice(0, 10));
 */
export interface HostPlan {
  host: string;
  port: number;
  domain: string;
  mode: "enforce" | "report-only";
  status: HostStatus;
  reuseKey: boolean;
  /** Where `reuseKey` came from (see {@link PlanHostInput.reuseKeyFrom}). */
  reuseKeyFrom?: "policy" | "option";
  /** The live path, leaf first, with when each certificate is expected to be replaced. */
  path: { subject: string; pin: Pin; notBefore: Date; notAfter: Date; replacedAt?: Date }[];
  /** The leaf's next renewal, and where the date comes from. */
  renewal?: { at: Date; source: "lifetime" | "ari"; lifetimeDays: number; ariCertId?: string };
  /** When no pinned key of the live path is left (absent: not within the horizon). */
  breaksAt?: Date;
  /**
   * What carries the host past `breaksAt`: a backup pin already in the policy (renew onto that key), or a new
   * pin that must be released in time.
   */
  successor?: "backup" | "new-pin";
  /** The day a release carrying the next pin must be in the stores, so that older versions have aged out by `breaksAt`. */
  shipBy?: Date;
  /** The last day to merge it (`shipBy` − release days). */
  mergeBy?: Date;
  pins: PinPlan[];
  findings: PlanFinding[];
  error?: string;
}

/**
 * A whole plan: the options it was made with, and one entry per host.
 *
 * @example
 * const plan = planPins(hosts, { now: new Date(), releaseDays: 14, adoptionDays: 90 });
 * if (!plan.ok) process.exitCode = 1;
 */
export interface Plan {
  now: Date;
  releaseDays: number;
  adoptionDays: number;
  horizon: Date;
  /** No host is `late`, `mismatch` or `error`. */
  ok: boolean;
  hosts: HostPlan[];
}
