// The host a domain entry names: a key of "domains" (or a normalized entry's "domain"), and two entries for one host.
import { normalizeHost } from "../host.js";
import { HOSTNAME_PATTERN, IPV4_PATTERN, IPV6_PATTERN } from "../patterns.js";
import { aceLabelProblem, hostToAscii } from "../punycode.js";
import type { PolicyProblem } from "../types.js";
import { jsonPointer } from "./read.js";

const HOSTNAME = new RegExp(HOSTNAME_PATTERN, "u");
const IPV4 = new RegExp(IPV4_PATTERN, "u");
const IPV6 = new RegExp(IPV6_PATTERN, "u");

/** Why a domain key is not acceptable, or undefined when it is. */
export function domainKeyProblem(key: string): string | undefined {
  if (HOSTNAME.test(key)) {
    for (const label of key.split(".")) {
      const problem = aceLabelProblem(label);
      if (problem !== undefined) {
        return `"${key}": its label "${label}" ${problem}, so no URL can name it: copy the name's xn-- form from new URL("https://<name>").hostname`;
      }
    }
    return undefined;
  }
  if (IPV4.test(key) || IPV6.test(key)) return undefined;
  if (/[^\u0000-\u007f]/.test(key)) {
    return `"${key}" is not ASCII: write the internationalized name in its xn-- (punycode) form, "${hostToAscii(key)}"`;
  }
  if (key.includes("*")) {
    return `"${key}" has a wildcard; wildcards are not allowed: use the parent domain with "includeSubdomains": true`;
  }
  if (key === "") return "the domain name is empty";
  if (/[:/]/.test(key) && /^[a-z]+:\/\//i.test(key)) return `"${key}" is a URL; use only its host name`;
  if (/:\d+$/.test(key) && !key.includes("::")) return `"${key}" has a port; use only the host name`;
  if (/^[0-9.]+$/.test(key))
    return `"${key}" is not a valid IPv4 address (four numbers 0–255 without leading zeros)`;
  if (key.includes(":")) return `"${key}" is not a valid IPv6 address`;
  return `"${key}" is not a valid host name (labels of letters, digits and hyphens, 1–63 characters, not starting or ending with a hyphen; the last label not all digits; 253 characters at most)`;
}

/** Two entries for one host: an error, since only one of them could ever apply. */
export function checkDuplicate(
  name: string,
  base: (string | number)[],
  seen: Map<string, string>,
  problems: PolicyProblem[],
): void {
  const canonical = normalizeHost(name);
  const first = seen.get(canonical);
  if (first === undefined) {
    seen.set(canonical, name);
    return;
  }
  problems.push({
    path: jsonPointer(...base),
    message: `"${name}" is the same host as "${first}" (${canonical}): host names compare without case or trailing dots, IP addresses by value, so only one entry could apply. Merge the two entries into one`,
  });
}
