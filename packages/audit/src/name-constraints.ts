// --name-constraints: the entries read and normalised (the form the audit CA's NameConstraints extension is made
// from, in ca-store.ts), and which hosts they permit, as a client enforcing RFC 5280 4.2.1.10 reads them. A host
// they do not permit is refused by such a client whatever it pins (curl: "permitted subtree violation"), so the
// verdicts never infer a pin there (verdicts.ts) and the CLI refuses to expect one (commands/audit.ts).
import { isIP } from "node:net";
import { canonicalHost } from "./host.js";

/** The 16 bytes of an IPv6 address (Node's isIP has said it is one), "::" and a trailing dotted quad included. */
function ipv6Bytes(ip: string): Buffer {
  const [head = "", tail] = ip.split("::");
  const groups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        const [a = 0, b = 0, c = 0, d = 0] = g.split(".").map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  for (const [i, g] of all.entries()) bytes.writeUInt16BE(g, i * 2);
  return bytes;
}

/** One --name-constraints entry, read: an IP address (one host: a /32 or /128 mask) or a DNS subtree. */
export type Constraint = { kind: "ip"; bytes: Buffer } | { kind: "dns"; name: string };

/**
 * Reads and normalises one --name-constraints entry:
 * - an IPv4 or IPv6 address, brackets allowed ("[::1]"), is that one host: canonical text (Node's URL form);
 * - "*.example.com" and ".example.com" are the names under example.com, not example.com itself (RFC 5280 has no
 *   one-label wildcard: a constraint covers every depth), written ".example.com" as OpenSSL reads it;
 * - "example.com" is example.com and every name under it (RFC 5280 4.2.1.10); a trailing dot is dropped.
 * Throws a RangeError that names the entry and says what is accepted.
 */
export function readConstraint(entry: string): { text: string; constraint: Constraint } {
  const raw = entry.trim().toLowerCase();
  const bare = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
  const family = isIP(bare);
  if (family === 4)
    return { text: bare, constraint: { kind: "ip", bytes: Buffer.from(bare.split(".").map(Number)) } };
  if (family === 6) {
    if (bare.includes("%")) {
      throw new RangeError(
        `--name-constraints: "${entry}" has an IPv6 zone (%…), which names a network interface and has no form in a certificate: give the address without it`,
      );
    }
    const text = canonicalHost(bare);
    return { text, constraint: { kind: "ip", bytes: ipv6Bytes(text) } };
  }
  const name = raw.replace(/^\*\./, ".").replace(/\.$/, "");
  const labels = (name.startsWith(".") ? name.slice(1) : name).split(".");
  // A last label of digits only is no DNS name (no top-level domain is numeric): an IPv4 address mistyped.
  const valid =
    !/^\d+$/.test(labels.at(-1) ?? "") &&
    labels.every((l) => /^(?!-)[a-z0-9-]{1,63}(?<!-)$|^_[a-z0-9-]{1,62}$/.test(l)) &&
    name.length <= 253;
  if (!valid)
    throw new RangeError(
      `--name-constraints: "${entry}" is not a host: give a DNS name (api.example.com), its subdomains (*.example.com or .example.com), or an IPv4 or IPv6 address`,
    );
  return { text: name, constraint: { kind: "dns", name } };
}

/** The entries, normalised, deduplicated and sorted (the form kept in AuditCa.nameConstraints). */
export function readConstraints(entries: string[]): string[] {
  return [...new Set(entries.map((e) => readConstraint(e).text))].sort();
}

/**
 * Whether an audit CA limited to `constraints` (--name-constraints entries, raw or as AuditCa.nameConstraints keeps
 * them) is valid for `host`: every host when there are none; else a DNS name under a DNS entry ("example.com": it
 * and every name under it; ".example.com" or "*.example.com": the names under it only), or an IP address one entry
 * names. A name form no entry mentions is excluded whole, as the CA's extension says (ca-store.ts). As
 * `openssl verify` reads the CA's forged leaves (packages/audit/test/name-constraints.test.ts). Throws the
 * RangeError of {@link readConstraint} for an entry that is no host.
 *
 * @example
 * permitsHost(["*.audit.test"], "api.audit.test"); // true
 * permitsHost(["*.audit.test"], "audit.test"); // false: the subdomains only
 */
export function permitsHost(constraints: readonly string[], host: string): boolean {
  if (constraints.length === 0) return true;
  const name = canonicalHost(host);
  const family = isIP(name);
  return constraints.some((entry) => {
    const { constraint } = readConstraint(entry);
    if (constraint.kind === "ip") return family !== 0 && ipBytes(name, family).equals(constraint.bytes);
    if (family !== 0) return false;
    const base = constraint.name;
    return base.startsWith(".") ? name.endsWith(base) : name === base || name.endsWith(`.${base}`);
  });
}

const ipBytes = (ip: string, family: number): Buffer =>
  family === 4 ? Buffer.from(ip.split(".").map(Number)) : ipv6Bytes(ip);
