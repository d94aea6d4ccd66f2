import { type ChainEntry, KeypinError, type Pin } from "@keypin/core";
import { describeCertificate } from "./parsed-certificate.js";
import type { PathSearch } from "./verified-path.js";

/**
 * Thrown (as the cause of the client's own error) when the signature-verified chain a server presented carries
 * none of the pinned keys of an enforced domain. Code `ERR_KEYPIN_PIN_MISMATCH`. The message lists the chain's
 * pins with their subjects and the expected pins, the way OkHttp does, so the right pin can be copied.
 *
 * @example
 * try {
 *   await fetch("https://api.example.com/", { dispatcher });
 * } catch (error) {
 *   const cause = (error as Error).cause;
 *   if (cause instanceof PinMismatchError) console.error(cause.host, cause.chainPins, cause.expectedPins);
 * }
 */
export class PinMismatchError extends KeypinError {
  /** The TLS server name the connection was for. */
  readonly host: string;
  /** The port connected to (443 when the TLS layer did not say). */
  readonly port: number;
  /** The policy domain that applied (the host itself, or a parent with `includeSubdomains`). */
  readonly domain: string;
  /** The verified path, leaf first, anchor last, each with its subject and pin. */
  readonly chainPins: ChainEntry[];
  /** The pins the policy expected for `domain`. */
  readonly expectedPins: Pin[];

  constructor(input: {
    host: string;
    port: number;
    domain: string;
    chainPins: ChainEntry[];
    expectedPins: Pin[];
  }) {
    const chain = input.chainPins.map((entry) => `\n    ${entry.pin}: ${entry.subject}`).join("");
    const expected = input.expectedPins.map((pin) => `\n    ${pin}`).join("");
    super(
      "ERR_KEYPIN_PIN_MISMATCH",
      `Certificate pinning failure for ${input.host}:${input.port}: no key on the verified chain is pinned for ` +
        `${input.domain}.\n  Verified chain (leaf first):${chain}\n  Pinned for ${input.domain}:${expected}\n` +
        "If the server's keys changed on purpose, add the new key's pin to keypin.json; " +
        "otherwise something is intercepting this connection.",
    );
    this.host = input.host;
    this.port = input.port;
    this.domain = input.domain;
    this.chainPins = input.chainPins;
    this.expectedPins = input.expectedPins;
  }
}

/** Why there is no verified path, as {@link UntrustedChainError} reports it. */
export type UntrustedReason = "no-path" | "rules" | "leaf" | "budget";

/**
 * Thrown (as the cause of the client's own error) when keypin finds no path from the served leaf to a trust anchor
 * that OpenSSL's rules accept (signatures, validity, CA flags, key usage, path length, name constraints), so there
 * is nothing pins could be compared with. Code `ERR_KEYPIN_UNTRUSTED_CHAIN`. `reason` says why:
 * - `no-path`: no such path exists under keypin's anchors, which then differ from the TLS layer's;
 * - `rules`: a served certificate (`hiddenBy`) links by name but breaks a rule, and Node links served certificates
 *   by the first name match, so it hides whatever valid path OpenSSL found: the server should stop sending it;
 * - `leaf`: the server's own certificate breaks a rule keypin checks, or keypin cannot read it;
 * - `budget`: the served chain costs more work (signature checks, or links to try) than keypin spends on one handshake.
 *
 * @example
 * if (error.cause instanceof UntrustedChainError) console.error(error.cause.reason, error.cause.hiddenBy?.subject);
 */
export class UntrustedChainError extends KeypinError {
  /** The TLS server name the connection was for. */
  readonly host: string;
  /** The port connected to. */
  readonly port: number;
  /** Subjects of the certificates Node reported for the peer, leaf first. */
  readonly served: string[];
  readonly reason: UntrustedReason;
  /** For `rules`: the served certificate that hid the path, and what is wrong with it. */
  readonly hiddenBy: { subject: string; problem: string } | undefined;

  constructor(input: {
    host: string;
    port: number;
    served: string[];
    reason?: UntrustedReason;
    hiddenBy?: { subject: string; problem: string };
    detail?: string;
  }) {
    const reason = input.reason ?? "no-path";
    const where = `${input.host}:${input.port}`;
    const served = `(served: ${input.served.join(" <- ") || "nothing"})`;
    super("ERR_KEYPIN_UNTRUSTED_CHAIN", untrustedMessage(reason, where, served, input));
    this.host = input.host;
    this.port = input.port;
    this.served = input.served;
    this.reason = reason;
    this.hiddenBy = input.hiddenBy;
  }
}

function untrustedMessage(
  reason: UntrustedReason,
  where: string,
  served: string,
  input: { hiddenBy?: { subject: string; problem: string }; detail?: string },
): string {
  switch (reason) {
    case "rules":
      return (
        `No valid path from the certificate served by ${where} to a trust anchor ${served}: the server sent ` +
        `"${input.hiddenBy?.subject}", which ${input.hiddenBy?.problem}. Node links the served certificates by the ` +
        "first name match, so that certificate hides any valid path behind it, and keypin refuses rather than pin " +
        "a path OpenSSL would reject. Server operator: stop sending that certificate (serve the leaf and the current " +
        "intermediates only)."
      );
    case "leaf":
      return `keypin cannot accept the certificate served by ${where}: ${input.detail ?? "it breaks a path rule"}. ${served}`;
    case "budget":
      return (
        `The chain served by ${where} needs more work (signature checks, or links between its certificates to try) than keypin spends on one handshake ${served}. ` +
        "Server operator: send only the leaf and the intermediates of one path."
      );
    case "no-path":
      return (
        `No signature-verified path from the certificate served by ${where} to a trust anchor ${served}. Pins can ` +
        "only match keys on such a path. OpenSSL accepted the chain, so its anchors differ from keypin's: give extra " +
        "CAs in the `ca` option or NODE_EXTRA_CA_CERTS (read at start-up), not through other TLS options." +
        (input.detail ? ` ${input.detail}` : "")
      );
    default: {
      const unreachable: never = reason;
      return unreachable;
    }
  }
}

/**
 * What a thrown value says, for a message: an Error's message, or the value as a string. Never throws, whatever was
 * thrown (an object without a prototype, a `message` getter that throws, a `toString` that throws).
 */
export function describeThrown(value: unknown): string {
  try {
    return value instanceof Error ? String(value.message) : String(value);
  } catch {
    return "a value that cannot be shown";
  }
}

/**
 * The pin check itself failed (an unexpected fault while checking a handshake), so the connection was refused:
 * keypin fails closed, and the process goes on. Code `ERR_KEYPIN_CHECK_FAILED`; `cause` is the fault.
 *
 * @example
 * if (error.cause?.code === "ERR_KEYPIN_CHECK_FAILED") console.error(error.cause.message);
 */
export class PinCheckError extends KeypinError {
  /** The TLS server name the connection was for. */
  readonly host: string;

  constructor(host: string, cause: unknown) {
    const why = describeThrown(cause);
    super(
      "ERR_KEYPIN_CHECK_FAILED",
      `keypin could not complete the pin check for ${host} (${why.slice(0, 300)}), so the connection was refused.`,
      { cause },
    );
    this.host = host;
  }
}

/**
 * The UntrustedChainError for a path search that found nothing: the served subjects, the search's reason and the
 * certificate that hid the path, and for `no-path` the anchors keypin left out (`limits`). Used by the pinned
 * clients and by `inspectTls`, so both say the same thing.
 */
export function untrustedChainErrorOf(
  search: Extract<PathSearch, { found: false }>,
  where: { host: string; port: number; served: readonly Uint8Array[]; limits?: readonly string[] },
): UntrustedChainError {
  const input: ConstructorParameters<typeof UntrustedChainError>[0] = {
    host: where.host,
    port: where.port,
    served: where.served.map(subjectOf),
    reason: search.reason,
  };
  if (search.rejected)
    input.hiddenBy = { subject: search.rejected.subject, problem: search.rejected.violation.detail };
  // Anchors keypin left out because it could not know Node trusts them: the likeliest reason for "no-path",
  // said beside what the search itself noted (certificates past the 16th it did not read).
  const details = [
    ...(search.detail ? [search.detail] : []),
    ...(search.reason === "no-path" && where.limits ? where.limits : []),
  ];
  if (details.length > 0) input.detail = details.join(" ");
  return new UntrustedChainError(input);
}

/** A served certificate's subject for an error message, or what it is when keypin cannot read it. */
function subjectOf(der: Uint8Array): string {
  try {
    return describeCertificate(der).info.subject;
  } catch {
    return "(a certificate keypin cannot read)";
  }
}
