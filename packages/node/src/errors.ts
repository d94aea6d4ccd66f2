import { type ChainEntry, KeypinError, type Pin } from "@keypin/core";

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

/**
 * Thrown (as the cause of the client's own error) when no chain from the served leaf to a trust anchor could be
 * verified signature by signature, so there is nothing pins could be compared with. Code
 * `ERR_KEYPIN_UNTRUSTED_CHAIN`. OpenSSL had accepted the chain, so this means keypin's anchors differ from the
 * ones the TLS layer used (for example a custom `secureContext` passed through `connect`).
 *
 * @example
 * if (error.cause instanceof UntrustedChainError) console.error(error.cause.host, error.cause.served);
 */
export class UntrustedChainError extends KeypinError {
  /** The TLS server name the connection was for. */
  readonly host: string;
  /** The port connected to. */
  readonly port: number;
  /** Subjects of the certificates Node reported for the peer, leaf first. */
  readonly served: string[];

  constructor(input: { host: string; port: number; served: string[] }) {
    super(
      "ERR_KEYPIN_UNTRUSTED_CHAIN",
      `No signature-verified path from the certificate served by ${input.host}:${input.port} to a trust anchor ` +
        `(served: ${input.served.join(" <- ") || "nothing"}). Pins can only match keys on such a path. ` +
        "OpenSSL accepted the chain, so its anchors differ from keypin's: give extra CAs in the `ca` option or " +
        "NODE_EXTRA_CA_CERTS (read at start-up), not through other TLS options.",
    );
    this.host = input.host;
    this.port = input.port;
    this.served = input.served;
  }
}
