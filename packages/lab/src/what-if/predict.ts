// The rule table that PREDICTS a what-if run's outcome before it runs. The run itself observes the outcome
// from the sockets and counters (attempt.ts); the outcome event compares the two, so a rule that is wrong
// about @keypin/node shows up as a failed scenario, not as a silently adjusted expectation.
//
// The lab's app is @keypin/node's pinned dispatcher trusting only the device's store (`caOnly`). What it does,
// and so what the table encodes:
// - Ordinary validation (Node/OpenSSL, against the device's store) runs first: a chain no anchor vouches for
//   fails the handshake whatever the pins say. The proxy forges its leaf with its own CA's key (mitmproxy does)
//   and sends only that leaf, so without its CA on the device OpenSSL reports UNABLE_TO_VERIFY_LEAF_SIGNATURE.
// - Pins are compared with the signature-verified path, leaf to anchor, the anchor included: any pinned key
//   on it passes (any-of, as OkHttp, Android and TrustKit do). Through the proxy that path is the forged leaf
//   and the attacker's CA, whose keys no choice pins; straight to the backend it is the served leaf (the
//   spare key's certificate once rotated), the intermediate and the root.
// - An expired pin set is not enforced (fails open), as Android's network security config and TrustKit do.
//
// Where other platforms differ (the page's "on your platform" notes name them): iOS ATS `NSPinnedDomains` has
// no expiry, so an expired set still blocks there, and when it lists both leaf (`NSPinnedLeafIdentities`) and CA
// identities (`NSPinnedCAIdentities`) a chain must match both; OkHttp's CertificatePinner has no expiry either;
// Android 7+ apps do not trust user-installed CAs unless their network security config opts in, so there the
// "attacker's CA installed" case needs a rooted device or a debug build.
import type { LabObservation } from "../events.js";
import type { LabPinChoice, LabWhatIf } from "./what-if.js";

/** The OpenSSL verify error Node reports for a leaf whose issuer is in no trust anchor of the device. */
export const untrustedForgeryCode = "UNABLE_TO_VERIFY_LEAF_SIGNATURE";

/** The rules, in the order they are tried; the first that applies decides. */
export type WhatIfRule = "untrusted-forgery" | "no-pins" | "expired" | "pin-on-path" | "no-pin-on-path";

/**
 * What the rule table predicts for a what-if: the outcome and the counters that go with it.
 *
 * @example
 * predictWhatIf({ attackerCaInstalled: true, viaProxy: true, pins: ["root"], rotated: false, expired: false });
 * // { rule: "no-pin-on-path", observation: "blocked", tokenLeaked: false, backendHits: 0, attackerReadsAppData: false, … }
 */
export interface WhatIfPrediction {
  rule: WhatIfRule;
  observation: LabObservation;
  /** One sentence: why (the what-if run's `proves`). */
  because: string;
  tokenLeaked: boolean;
  /** Requests the backend serves (1: the app's, directly or relayed by the proxy). */
  backendHits: number;
  /** Whether the proxy reads application data (the request) from the app. */
  attackerReadsAppData: boolean;
}

/**
 * The keys on the path the app verifies: the forged leaf's (the attacker CA's own key) and the attacker's CA
 * through the proxy, else the backend's served leaf, the intermediate and the root. `null` stands for the
 * attacker's key, which no {@link LabPinChoice} pins.
 */
export function keysOnVerifiedPath(w: Pick<LabWhatIf, "viaProxy" | "rotated">): (LabPinChoice | null)[] {
  if (w.viaProxy) return [null, null];
  return [w.rotated ? "backup" : "leaf", "intermediate", "root"];
}

interface Rule {
  rule: WhatIfRule;
  applies(w: LabWhatIf): boolean;
  observation(w: LabWhatIf): LabObservation;
  because(w: LabWhatIf): string;
}

const theft = (w: LabWhatIf): LabObservation => (w.viaProxy ? "token-stolen" : "works");

/** The table. */
const rules: readonly Rule[] = [
  {
    rule: "untrusted-forgery",
    applies: (w) => w.viaProxy && !w.attackerCaInstalled,
    observation: () => `failed: ${untrustedForgeryCode}`,
    because: () =>
      "The proxy's forged certificate chains to a CA the device does not trust: ordinary validation refuses it " +
      "before any pin is looked at, so the request fails and the proxy reads nothing.",
  },
  {
    rule: "no-pins",
    applies: (w) => w.pins.length === 0,
    observation: theft,
    because: (w) =>
      w.viaProxy
        ? "Without pins the device's word is final: the installed CA vouches for the forgery and the proxy reads the token."
        : "Without pins the device's word is final: a CA it trusts vouches for the real backend and the request goes through.",
  },
  {
    rule: "expired",
    applies: (w) => w.expired,
    observation: theft,
    because: (w) =>
      `An expired pin set is not enforced (fails open, as on Android and TrustKit), so the app ${
        w.viaProxy
          ? "trusts the installed CA's forgery and the proxy reads the token"
          : "behaves as if it did not pin"
      }.`,
  },
  {
    rule: "pin-on-path",
    applies: (w) => w.pins.some((pin) => keysOnVerifiedPath(w).includes(pin)),
    observation: () => "works",
    because: (w) =>
      `A pinned key (${w.pins.filter((pin) => keysOnVerifiedPath(w).includes(pin)).join(", ")}) is on the verified path ` +
      `${keysOnVerifiedPath(w).join(" ← ")}: one match is enough.`,
  },
  {
    rule: "no-pin-on-path",
    applies: () => true,
    observation: () => "blocked",
    because: (w) =>
      w.viaProxy
        ? `The verified path runs from the forged leaf to the attacker's CA: none of the pinned keys (${w.pins.join(", ")}) ` +
          "is on it, so the app cancels during the handshake and the proxy reads 0 bytes."
        : `None of the pinned keys (${w.pins.join(", ")}) is on the verified path ${keysOnVerifiedPath(w).join(" ← ")}` +
          `${w.rotated ? " after the rotation" : ""}: the app is locked out of the real server.`,
  },
];

/**
 * Predicts a what-if's outcome from the rule table (first rule that applies), with the counters it implies.
 *
 * @example
 * predictWhatIf({ attackerCaInstalled: true, viaProxy: true, pins: [], rotated: false, expired: false }).observation; // "token-stolen"
 */
export function predictWhatIf(w: LabWhatIf): WhatIfPrediction {
  const rule = rules.find((candidate) => candidate.applies(w))!;
  const observation = rule.observation(w);
  const served = observation === "works" || observation === "token-stolen";
  return {
    rule: rule.rule,
    observation,
    because: rule.because(w),
    tokenLeaked: observation === "token-stolen",
    backendHits: served ? 1 : 0,
    attackerReadsAppData: observation === "token-stolen",
  };
}
