// lintPolicy: risky but valid settings of a validated policy.
import { findDomainPolicy, isIpAddress, normalizeHost } from "../host.js";
import type { DomainPolicy, LintFinding, Policy } from "../types.js";
import { isExpired } from "./expires.js";
import { type LintPlatform, platformFindings } from "./platform-lint.js";
import { jsonPointer } from "./read.js";

/**
 * Risky but valid settings: `too-few-pins` (an enforced domain with fewer than two pins), `no-backup-pin`
 * (no pin has role `backup`), `expired` (`expires` has passed: the domain is no longer pinned),
 * `weaker-subdomain` (a more specific entry is expired or report-only under an enforced parent
 * with `includeSubdomains`, so it switches pinning off or down for its hosts), `report-uri-pinned` (a
 * report URI on a host the same policy enforces pins for: the report that matters cannot arrive).
 *
 * With `platforms`, also what the policy means on each platform it is exported to, each finding naming its
 * `platform`: `trustkit-two-pins` (TrustKit and React Native refuse fewer than two enforced pins),
 * `ats-one-label` (NSIncludesSubdomains covers one more label), `ats-and-rule` (leaf and CA identities must
 * each match), `ats-leaf-renewal` (leaf identities only, and no `renewal.reuseKey: true`), `okhttp3-subdomains` (OkHttp 3.x's `**.` matches nothing), `expiry-fails-open` (Android and
 * TrustKit stop enforcing after the date), `no-expiry` (ATS and OkHttp never stop), `no-report-only` (ATS
 * always enforces), `ip-not-pinnable` (ATS and TrustKit pin names only).
 *
 * @example
 * ```ts
 * for (const f of lintPolicy(policy, { now: new Date() })) console.warn(`${f.code} at ${f.path}: ${f.message}`);
 * ```
 */
export function lintPolicy(
  policy: Policy,
  options?: { now?: Date; platforms?: readonly LintPlatform[] },
): LintFinding[] {
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
    if (options?.platforms) findings.push(...platformFindings(d, options.platforms));
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
  // A report URI on a host this policy enforces pins for cannot deliver the report that matters: the
  // interception that fails the pin fails the report's connection too (RFC 7469 §2.1.4; TrustKit-Android#72).
  for (const [canonical, d] of unique) {
    d.reportUris.forEach((uri, index) => {
      const host = hostOfUri(uri);
      if (host === undefined) return;
      const pinned = findDomainPolicy(policy, host);
      if (pinned?.mode !== "enforce" || isExpired(pinned, now)) return;
      const key = d.key ?? d.domain;
      findings.push({
        code: "report-uri-pinned",
        path: jsonPointer("domains", key, "reportUris", String(index)),
        domain: canonical,
        message: `report URI ${uri} of "${key}" is on ${host}, which this policy pins ("${pinned.key ?? pinned.domain}"): when an interception fails the pin, it fails the report's connection too, and the report that matters never arrives (RFC 7469 section 2.1.4). Send reports to a host this policy does not pin`,
      });
    });
  }
  return findings;
}

/**
 * The host of an absolute http(s) URI, canonical (core has no URL parser of its own, and must not need the
 * platform's): the authority without user info and port, brackets off an IPv6 literal. Undefined for anything else.
 */
function hostOfUri(uri: string): string | undefined {
  const authority = /^https?:\/\/([^/?#]*)/i.exec(uri)?.[1];
  if (!authority) return undefined;
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  const host = hostPort.startsWith("[")
    ? hostPort.slice(1, hostPort.indexOf("]"))
    : hostPort.replace(/:\d*$/, "");
  return host === "" ? undefined : normalizeHost(host);
}
