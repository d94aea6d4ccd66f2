/**
 * What kind of failure an error code names:
 * - `input`: data handed to keypin cannot be used as it is (PEM or DER, a pin, a policy, a private key, a
 *   policy a platform cannot express); fix the data.
 * - `usage`: keypin was called with options that cannot work (an option that would bypass pinning, an unknown
 *   plugin option, a hash function of the wrong shape); fix the call.
 * - `network`: the connection did not get as far as a certificate to check (refused, timed out, not TLS, the
 *   proxy failed, the handshake failed).
 * - `verification`: the server was reached and failed the pin check (no pinned key, no trusted path).
 * - `internal`: the check itself broke (a fault in keypin or in a listener); keypin failed closed.
 *
 * @example
 * ```ts
 * const kind: KeypinErrorKind = errorCodes.ERR_KEYPIN_PIN_MISMATCH.kind; // "verification"
 * ```
 */
export type KeypinErrorKind = "input" | "usage" | "network" | "verification" | "internal";

/**
 * Every code a keypin package throws, with its kind. docs/errors.md explains each one (who throws it, what to
 * do); a test checks that this list, the codes thrown in `packages/*\/src` and that page agree.
 *
 * @example
 * ```ts
 * for (const [code, { kind }] of Object.entries(errorCodes)) console.log(code, kind);
 * ```
 */
export const errorCodes = {
  /** Malformed PEM or DER input (a certificate, a key, a CSR). */
  ERR_KEYPIN_PARSE: { kind: "input" },
  /** A string that is not a SHA-256 pin. */
  ERR_KEYPIN_PIN_FORMAT: { kind: "input" },
  /** A keypin policy (keypin.json or one built in code) that is not valid. */
  ERR_KEYPIN_POLICY: { kind: "input" },
  /** Bytes that are no private key node:crypto can read. */
  ERR_KEYPIN_PRIVATE_KEY: { kind: "input" },
  /** An encrypted private key given without a passphrase. */
  ERR_KEYPIN_ENCRYPTED_KEY: { kind: "input" },
  /** A passphrase that does not decrypt the private key. */
  ERR_KEYPIN_BAD_PASSPHRASE: { kind: "input" },
  /** A private key encrypted with a legacy cipher (RC2, DES, PBES1) that OpenSSL 3 no longer runs by default. */
  ERR_KEYPIN_KEY_CIPHER: { kind: "input" },
  /** A policy that an export format cannot express exactly (without `allowLossy`). */
  ERR_KEYPIN_LOSSY_EXPORT: { kind: "input" },
  /** A file `@keypin/import` cannot read pins from (not a format it reads, not well-formed, not readable). */
  ERR_KEYPIN_IMPORT: { kind: "input" },
  /** A `sha256` function (or its `base64` form) that returned something else than a SHA-256 digest. */
  ERR_KEYPIN_HASH: { kind: "usage" },
  /** An option of a pinned client that cannot work or would bypass pinning. */
  ERR_KEYPIN_OPTIONS: { kind: "usage" },
  /** An export option that is not accepted (e.g. a debug proxy CA file holding a private key). */
  ERR_KEYPIN_EXPORT_OPTION: { kind: "usage" },
  /** An unknown or mistyped option of the Expo config plugin. */
  ERR_KEYPIN_EXPO_OPTIONS: { kind: "usage" },
  /** The Expo app already sets its own Android network security config. */
  ERR_KEYPIN_EXPO_CONFLICT: { kind: "usage" },
  /** An option of `runLab` that cannot work. */
  ERR_KEYPIN_LAB_OPTIONS: { kind: "usage" },
  /** A lab scenario number that does not exist. */
  ERR_KEYPIN_LAB_SCENARIO: { kind: "usage" },
  /** No TCP connection to the host (refused, unknown host, unreachable). */
  ERR_KEYPIN_CONNECT: { kind: "network" },
  /** No TLS handshake within the time allowed. */
  ERR_KEYPIN_TIMEOUT: { kind: "network" },
  /** The port accepted a connection but does not speak TLS. */
  ERR_KEYPIN_NOT_TLS: { kind: "network" },
  /** The HTTP CONNECT proxy is not a usable URL, cannot be reached or refused the tunnel. */
  ERR_KEYPIN_PROXY: { kind: "network" },
  /** A TLS server refused or broke off the handshake. */
  ERR_KEYPIN_HANDSHAKE: { kind: "network" },
  /** The verified chain carries none of the pinned keys of an enforced domain. */
  ERR_KEYPIN_PIN_MISMATCH: { kind: "verification" },
  /** No path from the server's certificate to a trusted root, so nothing could be compared with the pins. */
  ERR_KEYPIN_UNTRUSTED_CHAIN: { kind: "verification" },
  /** The pin check itself failed (a fault), so the connection was refused. */
  ERR_KEYPIN_CHECK_FAILED: { kind: "internal" },
} as const satisfies Record<`ERR_KEYPIN_${string}`, { readonly kind: KeypinErrorKind }>;

/**
 * A code of the catalogue: the `code` of every {@link KeypinError}.
 *
 * @example
 * ```ts
 * const code: KeypinErrorCode = "ERR_KEYPIN_PIN_MISMATCH";
 * ```
 */
export type KeypinErrorCode = keyof typeof errorCodes;

/**
 * Whether `code` is in the catalogue (an error from another keypin version may carry a code this one does not
 * know).
 *
 * @example
 * ```ts
 * isKeypinErrorCode("ERR_KEYPIN_TIMEOUT"); // true
 * isKeypinErrorCode("ENOENT"); // false
 * ```
 */
export function isKeypinErrorCode(code: unknown): code is KeypinErrorCode {
  return typeof code === "string" && Object.hasOwn(errorCodes, code);
}

/**
 * The kind of a code, or undefined when the code is not in the catalogue.
 *
 * @example
 * ```ts
 * errorKindOf("ERR_KEYPIN_POLICY"); // "input"
 * errorKindOf("ERR_SOMETHING_ELSE"); // undefined
 * ```
 */
export function errorKindOf(code: unknown): KeypinErrorKind | undefined {
  return isKeypinErrorCode(code) ? errorCodes[code].kind : undefined;
}
