// The fields every domain entry shares (keypin.json or a normalized policy): pins, mode, expiry, report URIs.
import { DATE_PATTERN, LABEL_PATTERN, PIN_PATTERN, REPORT_URI_PATTERN } from "../patterns.js";
import { parsePin } from "../pin.js";
import { aceLabelProblem } from "../punycode.js";
import type { DomainPolicy, PinnedKey, PinRole, PolicyProblem } from "../types.js";
import {
  closest,
  describe,
  type Fields,
  fieldsOf,
  isPlainObject,
  itemsOf,
  jsonPointer,
  unknownFields,
} from "./read.js";

const PIN = new RegExp(PIN_PATTERN, "u");
const DATE = new RegExp(DATE_PATTERN, "u");
const REPORT_URI = new RegExp(REPORT_URI_PATTERN, "u");
const LABEL = new RegExp(LABEL_PATTERN, "u");
/** One character a label may hold (LABEL_PATTERN is `^[…]*$`). */
const LABEL_CHARACTER = new RegExp(LABEL_PATTERN.slice(1, -2), "u");

/** The fields a domain entry of keypin.json may have. */
export const DOMAIN_FIELDS = ["includeSubdomains", "pins", "expires", "mode", "reportUris", "renewal"];
const RENEWAL_FIELDS = ["reuseKey"];
const PIN_FIELDS = ["pin", "role", "label"];
const ROLES: readonly PinRole[] = ["leaf", "intermediate", "root", "backup"];

const MODES = ["enforce", "report-only"];

/** The fields every domain entry shares, read from a snapshot. `failed`: a problem was already found. */
export function validateDomain(
  base: (string | number)[],
  entry: Fields,
  problems: PolicyProblem[],
  failed: boolean,
): Omit<DomainPolicy, "domain"> | undefined {
  const before = problems.length;
  let includeSubdomains = false;
  if (Object.hasOwn(entry, "includeSubdomains")) {
    const value = entry.includeSubdomains;
    if (typeof value === "boolean") includeSubdomains = value;
    else {
      problems.push({
        path: jsonPointer(...base, "includeSubdomains"),
        message: `"includeSubdomains" must be true or false; found ${describe(value)}`,
      });
    }
  }
  const pins: PinnedKey[] = [];
  if (!Object.hasOwn(entry, "pins")) {
    problems.push({
      path: jsonPointer(...base),
      message: `missing "pins": a list of at least one sha256/ pin`,
    });
  } else if (!Array.isArray(entry.pins)) {
    problems.push({
      path: jsonPointer(...base, "pins"),
      message: `"pins" must be an array; found ${describe(entry.pins)}`,
    });
  } else {
    const items = itemsOf(entry.pins, [...base, "pins"], problems);
    if (items?.length === 0) {
      problems.push({
        path: jsonPointer(...base, "pins"),
        message: `"pins" is empty: list at least one pin (two when enforcing, one a backup)`,
      });
    }
    items?.forEach((item: unknown, i: number) => {
      const p = validatePinItem(item, [...base, "pins", i], problems);
      if (p) pins.push(p);
    });
  }
  let expires: string | undefined;
  if (Object.hasOwn(entry, "expires")) {
    const path = jsonPointer(...base, "expires");
    const value = entry.expires;
    if (typeof value !== "string") {
      problems.push({
        path,
        message: `"expires" must be a date string yyyy-MM-dd; found ${describe(value)}`,
      });
    } else if (!DATE.test(value)) {
      problems.push({
        path,
        message: `"expires" is ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}: expected a real calendar date as yyyy-MM-dd (UTC), e.g. "2027-06-30"`,
      });
    } else expires = value;
  }
  let mode: "enforce" | "report-only" = "enforce";
  if (Object.hasOwn(entry, "mode")) {
    const value = entry.mode;
    if (value === "enforce" || value === "report-only") mode = value;
    else {
      const hint = typeof value === "string" ? closest(value, MODES) : undefined;
      problems.push({
        path: jsonPointer(...base, "mode"),
        message: `"mode" must be "enforce" or "report-only" (leave it out to enforce); found ${describe(value)}${hint ? `: did you mean "${hint}"?` : ""} An unknown mode is an error so that a typo never switches pinning off`,
      });
    }
  }
  const reportUris: string[] = [];
  if (Object.hasOwn(entry, "reportUris")) {
    const value = entry.reportUris;
    if (!Array.isArray(value)) {
      problems.push({
        path: jsonPointer(...base, "reportUris"),
        message: `"reportUris" must be an array of https:// URLs; found ${describe(value)}`,
      });
    } else {
      itemsOf(value, [...base, "reportUris"], problems)?.forEach((uri: unknown, i: number) => {
        const hostProblem = typeof uri === "string" && REPORT_URI.test(uri) ? uriHostProblem(uri) : "";
        if (hostProblem === undefined) reportUris.push(uri as string);
        else if (hostProblem !== "") {
          problems.push({ path: jsonPointer(...base, "reportUris", i), message: hostProblem });
        } else {
          problems.push({
            path: jsonPointer(...base, "reportUris", i),
            message: reportUriProblem(uri),
          });
        }
      });
    }
  }
  const renewal = Object.hasOwn(entry, "renewal")
    ? validateRenewal(entry.renewal, [...base, "renewal"], problems)
    : undefined;
  if (failed || problems.length > before) return undefined;
  const domain: Omit<DomainPolicy, "domain"> = { includeSubdomains, pins, mode, reportUris };
  if (expires !== undefined) domain.expires = expires;
  if (renewal !== undefined) domain.renewal = renewal;
  return domain;
}

/**
 * `renewal`: how the host's certificate is renewed, as far as pins depend on it. `reuseKey: true` says every
 * renewal keeps the leaf's key (certbot `--reuse-key`), which a policy pinning the leaf key without a CA key
 * relies on; `keypin plan` reads it.
 */
function validateRenewal(
  value: unknown,
  path: (string | number)[],
  problems: PolicyProblem[],
): { reuseKey: boolean } | undefined {
  if (!isPlainObject(value)) {
    problems.push({
      path: jsonPointer(...path),
      message: `"renewal" must be an object like { "reuseKey": true }; found ${describe(value)}`,
    });
    return undefined;
  }
  const fields = fieldsOf(value);
  const before = problems.length;
  unknownFields(fields, RENEWAL_FIELDS, path, problems);
  if (!Object.hasOwn(fields, "reuseKey")) {
    problems.push({
      path: jsonPointer(...path),
      message: `missing "renewal.reuseKey": true when every renewal keeps the leaf key (certbot --reuse-key), false when renewals make a new key`,
    });
  } else if (typeof fields.reuseKey !== "boolean") {
    problems.push({
      path: jsonPointer(...path, "reuseKey"),
      message: `"renewal.reuseKey" must be true or false; found ${describe(fields.reuseKey)}`,
    });
  }
  if (problems.length > before) return undefined;
  return { reuseKey: fields.reuseKey as boolean };
}

function validatePinText(
  value: unknown,
  path: string,
  problems: PolicyProblem[],
): PinnedKey["pin"] | undefined {
  if (typeof value !== "string") {
    problems.push({
      path,
      message: `a pin must be a string like "sha256/<base64>"; found ${describe(value)}`,
    });
    return undefined;
  }
  let reason: string | undefined;
  try {
    const pin = parsePin(value);
    if (PIN.test(value)) return pin;
    reason = `pin ${JSON.stringify(value)} must be written exactly as "sha256/<base64>" (no spaces or other spellings); its canonical form is "${pin}"`;
  } catch (e) {
    reason = e instanceof Error ? e.message : String(e);
  }
  problems.push({ path, message: reason });
  return undefined;
}

function validatePinItem(
  value: unknown,
  path: (string | number)[],
  problems: PolicyProblem[],
): PinnedKey | undefined {
  if (!isPlainObject(value)) {
    const pin = validatePinText(value, jsonPointer(...path), problems);
    return pin ? { pin } : undefined;
  }
  const item = fieldsOf(value);
  const before = problems.length;
  unknownFields(item, PIN_FIELDS, path, problems);
  let pin: PinnedKey["pin"] | undefined;
  if (!Object.hasOwn(item, "pin"))
    problems.push({ path: jsonPointer(...path), message: `missing "pin" in the pin object` });
  else pin = validatePinText(item.pin, jsonPointer(...path, "pin"), problems);
  const result: Partial<PinnedKey> = {};
  if (Object.hasOwn(item, "role")) {
    const role = item.role;
    if (ROLES.includes(role as PinRole)) result.role = role as PinRole;
    else {
      problems.push({
        path: jsonPointer(...path, "role"),
        message: `"role" must be one of ${ROLES.map((r) => `"${r}"`).join(", ")}; found ${describe(role)}`,
      });
    }
  }
  if (Object.hasOwn(item, "label")) {
    const label = item.label;
    if (typeof label === "string" && LABEL.test(label)) result.label = label;
    else if (typeof label === "string") {
      problems.push({
        path: jsonPointer(...path, "label"),
        message: `"label" holds ${firstBadCharacter(label, LABEL_CHARACTER) ?? "a character"}, which XML 1.0 cannot hold (exports write labels into XML and plist comments): use text without control characters other than tab and line breaks, U+FFFE, U+FFFF or unpaired surrogates`,
      });
    } else
      problems.push({
        path: jsonPointer(...path, "label"),
        message: `"label" must be a string; found ${describe(label)}`,
      });
  }
  if (problems.length > before || !pin) return undefined;
  return { pin, ...result };
}

/** `U+XXXX at index N`: the first character of `text` that `allowed` (one character's class) refuses. */
function firstBadCharacter(text: string, allowed: RegExp): string | undefined {
  let index = 0;
  for (const ch of text) {
    if (!allowed.test(ch)) {
      const code = ch.codePointAt(0) ?? 0;
      return `U+${code.toString(16).toUpperCase().padStart(4, "0")} at index ${index}`;
    }
    index += ch.length;
  }
  return undefined;
}

/** A character RFC 3986 lets a URI hold as it is (unreserved, reserved or the % of an escape). */
const URI_CHARACTER = /[A-Za-z0-9\-._~!$&'()*+,;=:@/?#[\]%]/u;

/** Why a report URI is refused, naming the first character no exporter can write when there is one. */
function reportUriProblem(uri: unknown): string {
  const expected =
    "a report URI must be an absolute http:// or https:// URI as RFC 3986 writes it: ASCII, a host name (its last label not a number), IPv4 address or [IPv6] address, a port up to 65535, and a path, query or fragment where any other character is percent-encoded (%C3%A9 for \u00e9)";
  const bad = typeof uri === "string" ? firstBadCharacter(uri, URI_CHARACTER) : undefined;
  return `${expected}; found ${describe(uri)}${bad === undefined ? "" : `, which holds ${bad}`}`;
}

/** Why URL parsers refuse the host of a URI that matches REPORT_URI_PATTERN (an xn-- label that does not decode). */
function uriHostProblem(uri: string): string | undefined {
  const authority = uri.slice(uri.indexOf("//") + 2).split(/[/?#]/)[0] ?? "";
  const host = authority.slice(authority.lastIndexOf("@") + 1).replace(/:[0-9]*$/, "");
  if (host.startsWith("[")) return undefined;
  for (const label of host.split(".")) {
    const problem = aceLabelProblem(label);
    if (problem !== undefined) {
      return `report URI ${describe(uri)}: its host's label "${label}" ${problem}, so URL parsers refuse it: copy the host's xn-- form from new URL("https://<name>").hostname`;
    }
  }
  return undefined;
}
