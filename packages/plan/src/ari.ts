// ACME Renewal Information (RFC 9773): the CA tells the client when to renew, and may ask for it early.
import { KeypinError } from "@keypin/core";

/** A renewal window a CA suggested (RFC 9773 §4.2), with the page that explains an early one. */
export interface RenewalWindow {
  start: Date;
  end: Date;
  explanationURL?: string;
}

/**
 * How soon a CA must revoke, and so how soon a forced renewal can come, under TLS Baseline Requirements
 * §4.9.1.1: 24 hours for a compromised key or misissuance, 5 days for the other reasons.
 */
export const revocationDeadlineDays = { keyCompromise: 1, other: 5 } as const;

function base64url(bytes: readonly number[]): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const [a = 0, b = 0, c = 0] = [bytes[i], bytes[i + 1], bytes[i + 2]];
    const n = (a << 16) | (b << 8) | c;
    out += alphabet[(n >> 18) & 63]! + alphabet[(n >> 12) & 63]!;
    if (i + 1 < bytes.length) out += alphabet[(n >> 6) & 63]!;
    if (i + 2 < bytes.length) out += alphabet[n & 63]!;
  }
  return out;
}

function hexBytes(hex: string, what: string): number[] {
  const clean = hex.replace(/[\s:]/g, "");
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(clean)) {
    throw new KeypinError("ERR_KEYPIN_PARSE", `${what} "${hex}" is not hexadecimal bytes`);
  }
  return Array.from({ length: clean.length / 2 }, (_, i) =>
    Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16),
  );
}

/**
 * The ARI identifier of a certificate (RFC 9773 §4.1): base64url of its authorityKeyIdentifier's keyIdentifier,
 * a dot, and base64url of its serial number's DER content (with the leading zero byte a positive serial whose
 * high bit is set carries). Ask the CA's `renewalInfo` URL (in its ACME directory) for `<url>/<certId>`.
 *
 * @example
 * ariCertId("69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4", "87654321");
 * // "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" (RFC 9773's example)
 */
export function ariCertId(authorityKeyIdHex: string, serialHex: string): string {
  const keyId = hexBytes(authorityKeyIdHex, "authorityKeyIdentifier");
  let serial = hexBytes(serialHex, "serial number");
  while (serial.length > 1 && serial[0] === 0 && serial[1]! < 0x80) serial = serial.slice(1);
  if (serial[0]! >= 0x80) serial = [0, ...serial];
  return `${base64url(keyId)}.${base64url(serial)}`;
}

/**
 * Reads a renewalInfo response (RFC 9773 §4.2: `{ "suggestedWindow": { "start", "end" }, "explanationURL"? }`),
 * as the CA's `renewalInfo` URL returns it. A document of another shape is `ERR_KEYPIN_PARSE`.
 *
 * @example
 * parseRenewalInfo({ suggestedWindow: { start: "2026-12-03T00:00:00Z", end: "2026-12-04T00:00:00Z" } }).start;
 */
export function parseRenewalInfo(document: unknown): RenewalWindow {
  const bad = (why: string) =>
    new KeypinError("ERR_KEYPIN_PARSE", `not an ARI renewalInfo document (RFC 9773 §4.2): ${why}`);
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw bad("expected a JSON object with suggestedWindow");
  }
  const window = (document as { suggestedWindow?: unknown }).suggestedWindow;
  if (typeof window !== "object" || window === null) throw bad("suggestedWindow is missing");
  const { start, end } = window as { start?: unknown; end?: unknown };
  const time = (value: unknown, name: string): Date => {
    // RFC 3339 date-time, as RFC 9773 requires: a date alone or a time without a zone is refused.
    if (
      typeof value !== "string" ||
      !/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(value) ||
      Number.isNaN(Date.parse(value))
    ) {
      throw bad(`suggestedWindow.${name} ${JSON.stringify(value)} is not an RFC 3339 date-time`);
    }
    return new Date(value);
  };
  const out: RenewalWindow = { start: time(start, "start"), end: time(end, "end") };
  if (out.end.getTime() <= out.start.getTime()) {
    throw bad(`suggestedWindow.end (${String(end)}) is not after start (${String(start)})`);
  }
  const url = (document as { explanationURL?: unknown }).explanationURL;
  if (url !== undefined) {
    if (typeof url !== "string") throw bad("explanationURL is not a string");
    out.explanationURL = url;
  }
  return out;
}
