import { type CertificateInfo, computePin, type Pin } from "@keypin/core";
import type { TlsInspection } from "@keypin/node";
import { sha256 } from "@keypin/node";
import { formatCount } from "../output.js";
import { findRotatingFamily } from "./ca-families.js";

/** Role of a certificate: on the verified path (`leaf`, `intermediate`, `root`), or served but not on it (`extra`). */
export type CertificateRole = "leaf" | "intermediate" | "root" | "extra";

/** One certificate as `inspect` shows it (and prints with `--json`). */
export interface ChainCertificate {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number;
  keyType: string;
  role: CertificateRole;
  pin: Pin;
}

/** A warning with a stable code. */
export interface Warning {
  code:
    | "untrusted"
    | "path-rules"
    | "hostname-mismatch"
    | "self-signed"
    | "expired"
    | "expires-soon"
    | "rotates-intermediates"
    | "extra-certificates";
  message: string;
}

/** What `inspect` reports (its `--json` document). */
export interface InspectReport {
  host: string;
  port: number;
  servername: string;
  trusted: boolean;
  chain: ChainCertificate[];
  verifiedChain: ChainCertificate[];
  warnings: Warning[];
  advice: string[];
}

/** The parts of `@keypin/node`'s `TlsInspection` the report needs. */
export type InspectionInput = Pick<
  TlsInspection,
  | "host"
  | "port"
  | "servername"
  | "served"
  | "verified"
  | "trusted"
  | "authorizationError"
  | "hostnameError"
  | "pathProblem"
>;

/** Certificates that expire within this many days get a warning. */
export const expiresSoonDays = 30;

const dayMs = 86_400_000;

function sameCertificate(a: CertificateInfo, b: CertificateInfo): boolean {
  if (a.der.length !== b.der.length) return false;
  for (let i = 0; i < a.der.length; i++) if (a.der[i] !== b.der[i]) return false;
  return true;
}

function isSelfIssued(cert: CertificateInfo): boolean {
  return cert.subject === cert.issuer;
}

/**
 * The role of each certificate on a verified path (leaf first, anchor last).
 *
 * @example
 * verifiedRoles(3); // ["leaf", "intermediate", "root"]
 */
export function verifiedRoles(length: number): CertificateRole[] {
  return Array.from({ length }, (_, i) => (i === 0 ? "leaf" : i === length - 1 ? "root" : "intermediate"));
}

function describe(cert: CertificateInfo, role: CertificateRole, now: Date): ChainCertificate {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    daysLeft: Math.floor((cert.notAfter.getTime() - now.getTime()) / dayMs),
    keyType: cert.keyType,
    role,
    pin: computePin(cert.spki, sha256),
  };
}

function commonName(dn: string): string {
  const match = /(?:^|,\s*)CN=((?:\\.|[^,])*)/.exec(dn);
  return match?.[1] ?? dn;
}

/**
 * Builds the inspect report: roles (served certificates not on the verified path are `extra`),
 * validity, pins, warnings and advice on a robust pin set.
 *
 * @example
 * const report = buildInspectReport(await inspectTls({ host, port }));
 */
export function buildInspectReport(input: InspectionInput, now: Date = new Date()): InspectReport {
  const verified = input.verified ?? [];
  const roles = verifiedRoles(verified.length);
  const verifiedChain = verified.map((cert, i) => describe(cert, roles[i]!, now));
  const chain = input.served.map((cert, i) => {
    const position = verified.findIndex((v) => sameCertificate(v, cert));
    if (position !== -1) return describe(cert, roles[position]!, now);
    if (input.verified !== undefined) return describe(cert, "extra", now);
    // No verified path: the best guess from the certificates themselves.
    return describe(cert, i === 0 ? "leaf" : cert.isCA && isSelfIssued(cert) ? "root" : "intermediate", now);
  });
  const warnings: Warning[] = [];
  // `trusted` also needs the name to match: a chain that verifies but is for another name is a name problem,
  // and adding a CA (--ca) would not fix it.
  const chainTrusted = input.authorizationError === undefined && input.verified !== undefined;
  const name = input.servername || input.host;
  if (!input.trusted && (!chainTrusted || !input.hostnameError)) {
    warnings.push({
      code: "untrusted",
      message: `the chain is not trusted${input.authorizationError ? ` (${input.authorizationError})` : ""}: a device would refuse it, and pins taken from it may be an interceptor's; add the right CA with --ca if this is a private CA`,
    });
  }
  if (input.pathProblem) warnings.push({ code: "path-rules", message: input.pathProblem });
  if (input.hostnameError) {
    warnings.push({
      code: "hostname-mismatch",
      message: `the certificate is not valid for ${name}: ${describeHostnameError(input.hostnameError)}; a device refuses it for this name: use a name the certificate holds, or give the server a certificate for ${name}`,
    });
  }
  const leaf = input.served[0];
  if (leaf && isSelfIssued(leaf) && (verified.length <= 1 || input.served.length === 1)) {
    warnings.push({
      code: "self-signed",
      message: `the leaf ${leaf.subject} is self-signed: only a device told to trust it (--ca) accepts it`,
    });
  }
  for (const cert of verified.length > 0 ? verifiedChain : chain.slice(0, 1)) {
    if (cert.daysLeft < 0) {
      warnings.push({
        code: "expired",
        message: `${cert.role} ${cert.subject} expired on ${cert.notAfter.slice(0, 10)}`,
      });
    } else if (cert.daysLeft < expiresSoonDays) {
      warnings.push({
        code: "expires-soon",
        message: `${cert.role} ${cert.subject} expires in ${cert.daysLeft} days (${cert.notAfter.slice(0, 10)}): if the renewal makes a new key, its pin changes`,
      });
    }
  }
  const issuer = verified[1] ?? input.served[1];
  const family = leaf ? findRotatingFamily(leaf.issuer) : undefined;
  if (family) {
    warnings.push({
      code: "rotates-intermediates",
      message: `${family.name} issues from several interchangeable intermediates (${family.intermediateNames}) and may pick another at any renewal: do not pin ${commonName(leaf!.issuer)}; pin the family's roots (${family.roots.join(", ")}) or keys you control`,
    });
  }
  const extras = chain.filter((c) => c.role === "extra");
  if (extras.length > 0) {
    warnings.push({
      code: "extra-certificates",
      message: `the server sends ${formatCount(extras.length, "certificate")} that ${extras.length === 1 ? "is" : "are"} not on the verified path (${extras.map((e) => e.subject).join("; ")}): never pin ${extras.length === 1 ? "it" : "them"}, a device ignores ${extras.length === 1 ? "it" : "them"}`,
    });
  }
  const advice =
    verifiedChain.length > 0 && input.trusted
      ? buildAdvice(verifiedChain, family?.roots, issuer !== undefined)
      : chainTrusted && input.hostnameError
        ? [
            `No pin advice while the certificate is not valid for ${name}: a device refuses the connection before any pin is checked. Inspect a name the certificate holds, or fix the server's certificate first.`,
          ]
        : [
            "No pin advice for an untrusted chain: pins taken from it could be an interceptor's. Fix the trust first (the right --ca for a private CA, or the server's chain).",
          ];
  return {
    host: input.host,
    port: input.port,
    servername: input.servername,
    trusted: input.trusted,
    chain,
    verifiedChain,
    warnings,
    advice,
  };
}

/**
 * Node's host-name check message (`tls.checkServerIdentity`) in keypin's words, without its prefix and without
 * the full stop Node puts after the name ("Host: a.example. is not in the cert's altnames: …"), which reads as
 * part of the name. A message of another shape is kept, with that full stop dropped.
 *
 * @example
 * describeHostnameError("Hostname/IP does not match certificate's altnames: Host: a.test. is not in the cert's altnames: DNS:b.test");
 * // "its names are DNS:b.test"
 */
export function describeHostnameError(message: string): string {
  const reason = message.replace(/^Hostname\/IP does not match certificate's altnames: /, "");
  const altNames = /^Host: .*?\.? is not in the cert's altnames: (.*)$/s.exec(reason);
  if (altNames) return `its names are ${altNames[1]}`;
  const commonName = /^Host: .*?\.? is not cert's CN: (.*)$/s.exec(reason);
  if (commonName) return `it has no subjectAltName, and its CN is ${commonName[1]}`;
  const ip = /^IP: .* is not in the cert's list: (.*)$/s.exec(reason);
  if (ip) return `its IP addresses are ${ip[1] || "none"}`;
  if (reason === "Cert does not contain a DNS name") return "it holds no DNS name";
  return reason.replace(/^Host: (.*?)\. is not /, "Host: $1 is not ");
}

function buildAdvice(
  path: ChainCertificate[],
  familyRoots: string[] | undefined,
  hasIssuer: boolean,
): string[] {
  const leaf = path[0];
  if (!leaf) return [];
  const advice = [
    `A robust pin set has a key you control plus an offline backup key, or a CA family rather than one intermediate.`,
    `Your key: pin the leaf key ${leaf.pin} only if renewals keep that key (certbot --reuse-key, or a CSR made from the same key); by default a renewal makes a new key and every installed app is locked out. Renewals come ever more often (at most 200-day certificates from March 2026, 100 from 2027, 47 from 2029).`,
    "Backup: make one with `keypin backup` and keep the key offline; every policy needs a pin that is not in the live chain.",
  ];
  const root = path.length > 1 ? path[path.length - 1] : undefined;
  const intermediate = path.length > 2 ? path[1] : undefined;
  if (familyRoots && root) {
    advice.push(
      `CA family: pin the root ${root.subject} (${root.pin}) and the family's other roots (${familyRoots.filter((r) => r !== commonName(root.subject)).join(", ") || "none"}), not the intermediate.`,
    );
  } else if (intermediate) {
    advice.push(
      `CA: the intermediate ${intermediate.subject} (${intermediate.pin}) survives leaf renewals for as long as the CA issues from it; its root ${root?.subject ?? ""} lasts longer but trusts more.`,
    );
  } else if (root && hasIssuer) {
    advice.push(`CA: the root ${root.subject} (${root.pin}) issues the leaf directly.`);
  }
  advice.push("`keypin init <host> --generate-backup DIR` writes this as keypin.json.");
  return advice;
}
