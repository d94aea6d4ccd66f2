import { findDomainPolicy, normalizeHost } from "./host.js";
import { parsePin } from "./pin.js";
import { endOfDay } from "./policy/expires.js";
import type { ChainEntry, Pin, PinVerdict, Policy } from "./types.js";

/**
 * Decides whether a chain satisfies the pins for a host. `chain` must be the signature-VERIFIED path
 * (leaf first, anchor last), never the certificates a server merely sent (CVE-2016-2402). Returns data:
 * `pinned` (the first chain position, from the leaf, whose key is pinned), `mismatch` (`enforced: false`
 * for report-only domains) or `not-pinned` (`no-policy`, or `expired`: pins hold through the end of the
 * `expires` UTC day). Never throws.
 *
 * @example
 * ```ts
 * const chain = verified.map((c) => ({ subject: c.subject, pin: computePin(c.spki, sha256) }));
 * const v = evaluateChain({ policy, host: "api.myapp.com", chain });
 * if (v.verdict === "mismatch" && v.enforced) throw new Error(`pin mismatch for ${v.host}`);
 * ```
 */
export function evaluateChain(input: {
  policy: Policy;
  host: string;
  chain: ChainEntry[];
  now?: Date;
}): PinVerdict {
  const host = normalizeHost(input.host);
  const domainPolicy = findDomainPolicy(input.policy, host);
  if (!domainPolicy) return { verdict: "not-pinned", host, reason: "no-policy" };
  const domain = normalizeHost(domainPolicy.domain);
  const now = input.now ?? new Date();
  if (domainPolicy.expires !== undefined && now.getTime() >= endOfDay(domainPolicy.expires)) {
    return { verdict: "not-pinned", host, reason: "expired", domain };
  }
  const expected: Pin[] = [];
  for (const p of domainPolicy.pins) {
    const pin = canonicalPin(p.pin);
    if (pin && !expected.includes(pin)) expected.push(pin);
  }
  const chainPins = input.chain.map((c) => ({ subject: c.subject, pin: canonicalPin(c.pin) ?? c.pin }));
  for (let position = 0; position < chainPins.length; position++) {
    const entry = chainPins[position]!;
    if (expected.includes(entry.pin)) {
      return {
        verdict: "pinned",
        host,
        domain,
        matched: { position, subject: entry.subject, pin: entry.pin },
        chainPins,
      };
    }
  }
  return {
    verdict: "mismatch",
    host,
    domain,
    enforced: domainPolicy.mode === "enforce",
    chainPins,
    expectedPins: expected,
  };
}

// A pin already in canonical form: 43 base64 characters whose last one carries no stray bits, then "=".
// Pins from computePin and from a parsed policy all look like this, so the per-handshake check skips
// the full parse for them; anything else still goes through parsePin.
const CANONICAL_PIN = /^sha256\/[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

function canonicalPin(pin: string): Pin | undefined {
  if (CANONICAL_PIN.test(pin)) return pin as Pin;
  try {
    return parsePin(pin);
  } catch {
    return undefined;
  }
}
