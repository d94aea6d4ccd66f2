// When each key of a host's live path is expected to leave it, and the CA-family risks of the pins on it.
import { addDays, formatDay } from "./dates.js";
import { lifetimeDaysOf, type ProjectedRenewal, projectRenewals, renewalDate } from "./schedule.js";
import type { ChangeReason, PlanCertificate, PlanFinding, PlanHostInput } from "./types.js";

/** When the key at one position of the path is expected to leave it, and why. */
export interface KeyChange {
  at?: Date;
  reason?: ChangeReason;
}

/** The leaf's next renewal and the ones after it within the horizon. */
export interface RenewalForecast {
  at: Date;
  source: "lifetime" | "ari";
  /** The renewal the certificate's lifetime alone predicts (before any ARI window). */
  usual: Date;
  lifetimeDays: number;
  renewals: ProjectedRenewal[];
}

function commonName(dn: string): string {
  const match = /(?:^|[,+]\s*)CN=((?:\\.|[^,+])*)/i.exec(dn);
  return match ? match[1]!.replace(/\\(.)/g, "$1").trim() : dn;
}

function organization(dn: string): string | undefined {
  const match = /(?:^|[,+]\s*)O=((?:\\.|[^,+])*)/i.exec(dn);
  return match ? match[1]!.replace(/\\(.)/g, "$1").trim() : undefined;
}

/**
 * The leaf's next renewal: two thirds into its lifetime, or the start of the CA's ARI window when that is
 * earlier; then the renewals after it until `horizon`, each certificate as long-lived as the schedule allows.
 *
 * @example
 * forecastRenewals(host.path[0], host.ari, now, horizon).at;
 */
export function forecastRenewals(
  leaf: PlanCertificate,
  ari: PlanHostInput["ari"],
  now: Date,
  horizon: Date,
): RenewalForecast {
  const usual = renewalDate(leaf, now);
  let at = usual;
  let source: RenewalForecast["source"] = "lifetime";
  if (ari && ari.start.getTime() < usual.getTime()) {
    at = ari.start.getTime() < now.getTime() ? now : ari.start;
    source = "ari";
  }
  const lifetimeDays = lifetimeDaysOf(leaf);
  return { at, source, usual, lifetimeDays, renewals: projectRenewals(at, lifetimeDays, horizon) };
}

/**
 * For each position of the path, when its key is expected to leave the path:
 * - the leaf's key at its next renewal, unless renewals reuse it;
 * - the leaf's issuer at that renewal too when it is one of a CA family's interchangeable intermediates;
 * - a CA certificate at the first renewal whose new leaf would outlive it (the CA must issue from another);
 * - every key above a cross-signed root when the cross-sign expires;
 * - any certificate at its expiry.
 *
 * @example
 * const changes = predictKeyChanges(host, forecast, horizon);
 */
export function predictKeyChanges(
  input: PlanHostInput,
  forecast: RenewalForecast,
  horizon: Date,
): KeyChange[] {
  const path = input.path ?? [];
  const changes: KeyChange[] = path.map(() => ({}));
  const set = (i: number, at: Date | undefined, reason: ChangeReason) => {
    const current = changes[i]!;
    if (at === undefined || at.getTime() > horizon.getTime()) return;
    if (current.at === undefined || at.getTime() < current.at.getTime()) changes[i] = { at, reason };
  };
  if (path.length === 0) return changes;
  if (!input.reuseKey) set(0, forecast.at, forecast.source === "ari" ? "ari-renewal" : "leaf-renewal");
  for (let i = 1; i < path.length; i++) {
    const cert = path[i]!;
    const crossSigned = cert.selfSigned !== true && cert.rootOf !== undefined;
    if (i === 1 && cert.rotatingFamily) set(i, forecast.at, "family-rotation");
    if (cert.selfSigned !== true && !crossSigned) {
      const outlived = forecast.renewals.find(
        (r) => addDays(r.at, r.lifetimeDays).getTime() > cert.notAfter.getTime(),
      );
      if (outlived) set(i, outlived.at, "issuer-end-of-life");
    }
    if (!crossSigned) set(i, cert.notAfter, "expiry");
    if (crossSigned) for (let j = i + 1; j < path.length; j++) set(j, cert.notAfter, "cross-sign-expiry");
  }
  return changes;
}

/**
 * What the CA families mean for the pins that match the path: a pinned intermediate a CA rotates, a root pin
 * that covers one side of a cross-signed pair or one of the family's roots, a pin set that one CA move breaks.
 *
 * @example
 * findings.push(...caFamilyFindings(host, matched, forecast));
 */
export function caFamilyFindings(
  input: PlanHostInput,
  matchedPositions: ReadonlySet<number>,
  hasBackup: boolean,
  forecast: RenewalForecast,
): PlanFinding[] {
  const path = input.path ?? [];
  const out: PlanFinding[] = [];
  const when = formatDay(forecast.at);
  for (const i of matchedPositions) {
    const cert = path[i]!;
    if (i === 1 && cert.rotatingFamily) {
      const family = cert.rotatingFamily;
      out.push({
        code: "family-intermediate",
        severity: "warning",
        pin: cert.pin,
        date: forecast.at,
        message: `${input.host}: the pinned intermediate ${commonName(cert.subject)} is one of ${family.name}'s interchangeable intermediates (${family.intermediateNames}); the certificate renewed on ${when} may come from any of them. Pin all of ${family.roots.join(", ")} or a key you hold instead`,
      });
    }
    const family = cert.rootOf;
    if (family && i > 0) {
      const crossIndex = path.findIndex((c, k) => k < i && c.selfSigned !== true && c.rootOf !== undefined);
      const pinnedRoots = new Set(
        [...matchedPositions].map((k) => path[k]!).flatMap((c) => (c.rootOf ? [commonName(c.subject)] : [])),
      );
      const others = family.roots.filter((r) => !pinnedRoots.has(r));
      if (crossIndex !== -1 && crossIndex < i) {
        const cross = path[crossIndex]!;
        out.push({
          code: "cross-signed-root",
          severity: "warning",
          pin: cert.pin,
          date: cross.notAfter,
          message: `${input.host}: the path reaches the pinned ${commonName(cert.subject)} through ${commonName(cross.subject)} cross-signed by it, which expires ${formatDay(cross.notAfter)}; servers that send the shorter chain (or all of them after that day) end at ${commonName(cross.subject)}'s self-signed root: pin ${commonName(cross.subject)} too`,
        });
      } else if (others.length > 0 && !hasBackup) {
        out.push({
          code: "root-one-side",
          severity: "warning",
          pin: cert.pin,
          message: `${input.host}: the policy pins the root ${commonName(cert.subject)}, but ${family.name} also issues under ${others.join(", ")} (another key type, a cross-signed hierarchy); a renewal onto that side ends at a root this policy does not pin: pin ${others.join(", ")} too`,
        });
      }
    }
  }
  const ownKeySurvives = matchedPositions.has(0) && input.reuseKey;
  if (!hasBackup && !ownKeySurvives && path.length > 1) {
    const ca = organization(path[0]!.issuer) ?? commonName(path[0]!.issuer);
    out.push({
      code: "single-ca",
      severity: "warning",
      date: forecast.at,
      message: `${input.host}: every pin that matches depends on ${ca} (or on a leaf key that the renewal on ${when} replaces); if the provider moves the host to another CA at a renewal (CDNs do, e.g. Let's Encrypt to Google Trust Services), no pin matches. Keep a backup key you hold in the policy, or pin the roots of every CA the provider may use`,
    });
  }
  return out;
}
