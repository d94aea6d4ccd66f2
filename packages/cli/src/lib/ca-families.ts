/**
 * CA families known to issue from several interchangeable intermediates. A leaf from such a CA may come
 * from any of them at the next renewal, so a pin on the one intermediate seen today is a pin that breaks
 * at random. Pin the family's roots (all of them) or keys you control instead.
 *
 * MAINTAINED TABLE: when a CA announces new intermediates, add them here with the announcement as a source
 * and update `checked`. Matching is on the issuer's organization (O) and common name (CN), so synthetic
 * test chains named like the real ones match too.
 */
export interface CaFamily {
  /** Stable identifier used in warnings. */
  id: string;
  /** Human name, e.g. "Let's Encrypt". */
  name: string;
  /** Organization (O) of the intermediates. */
  organization: string;
  /** Common names (CN) of the intermediates that issue leaves, as a pattern. */
  intermediate: RegExp;
  /** How the intermediates are named, for messages ("R10–R14 and E5–E9"). */
  intermediateNames: string;
  /** Common names of the roots the intermediates chain to: pin all of them, not one. */
  roots: string[];
  /** Where the list comes from. */
  sources: string[];
  /**
   * When the entry was last checked against its sources (yyyy-mm-dd); `undefined` when it was written
   * from the CA's documentation as known to us and still awaits a check against the sources listed.
   */
  checked: string | undefined;
}

/** The maintained table. */
export const caFamilies: readonly CaFamily[] = [
  {
    id: "letsencrypt",
    name: "Let's Encrypt",
    organization: "Let's Encrypt",
    // 2024 hierarchy: RSA R10–R14 under ISRG Root X1, ECDSA E5–E9 under ISRG Root X2 (and X1 cross-sign).
    // R3/R4 and E1/E2 are the previous generation, still seen in old chains.
    intermediate: /^(R1[0-4]|E[5-9]|R[34]|E[12])$/,
    intermediateNames: "R10–R14 (RSA) and E5–E9 (ECDSA)",
    roots: ["ISRG Root X1", "ISRG Root X2"],
    sources: [
      "https://letsencrypt.org/certificates/",
      "https://letsencrypt.org/2024/03/19/new-intermediate-certificates/",
    ],
    checked: "2026-11-25",
  },
  {
    id: "google-trust-services",
    name: "Google Trust Services",
    organization: "Google Trust Services",
    // WR1–WR5 (RSA) and WE1–WE4 (ECDSA), and the older GTS CA 1C3 / 1D4 / 1P5, under GTS Root R1–R4.
    intermediate: /^(W[RE][0-9]|GTS CA 1[CDP][0-9])$/,
    intermediateNames: "WR1–WR5 (RSA), WE1–WE4 (ECDSA), GTS CA 1C3/1D4/1P5",
    roots: ["GTS Root R1", "GTS Root R2", "GTS Root R3", "GTS Root R4"],
    sources: ["https://pki.goog/repository/"],
    checked: undefined,
  },
  {
    id: "amazon",
    name: "Amazon Trust Services",
    organization: "Amazon",
    // Amazon RSA 2048 M01–M04, RSA 4096 M01–M04, ECDSA 256 M01–M04, ECDSA 384 M01–M04, under Amazon Root CA 1–4.
    intermediate: /^Amazon (RSA 2048|RSA 4096|ECDSA 256|ECDSA 384) M0[1-9]$/,
    intermediateNames: "Amazon RSA 2048 M01–M04, RSA 4096 M01–M04, ECDSA 256 M01–M04, ECDSA 384 M01–M04",
    // The repository recommends trusting all five roots (Root CA 1–4 are cross-signed by the older Starfield
    // Services root) and, for pinning, the roots' public keys; since October 2022 ACM issues each certificate
    // from one of several intermediates (the 2022 post). The M0x naming is from observed chains, not a source.
    roots: [
      "Amazon Root CA 1",
      "Amazon Root CA 2",
      "Amazon Root CA 3",
      "Amazon Root CA 4",
      "Starfield Services Root Certificate Authority - G2",
    ],
    sources: [
      "https://www.amazontrust.com/repository/",
      "https://aws.amazon.com/blogs/security/amazon-introduces-dynamic-intermediate-certificate-authorities/",
    ],
    checked: undefined,
  },
  {
    id: "microsoft-azure",
    name: "Microsoft Azure",
    organization: "Microsoft Corporation",
    // Microsoft Azure RSA/ECC TLS Issuing CA 03, 04, 07, 08 (and more), under DigiCert Global Root G2 / G3.
    intermediate: /^Microsoft Azure (RSA|ECC) TLS Issuing CA [0-9]{2}$/,
    intermediateNames: "Microsoft Azure RSA TLS Issuing CA 03/04/07/08 and ECC TLS Issuing CA 03/04/07/08",
    roots: ["DigiCert Global Root G2", "DigiCert Global Root G3"],
    sources: ["https://learn.microsoft.com/azure/security/fundamentals/azure-certificate-authority-details"],
    checked: undefined,
  },
];

/**
 * Splits an RFC 4514-style distinguished name ("CN=R11, O=Let's Encrypt, C=US") into attributes
 * (upper-case types; escaped commas kept in values).
 *
 * @example
 * parseDistinguishedName("CN=R11, O=Let's Encrypt, C=US").get("O"); // "Let's Encrypt"
 */
export function parseDistinguishedName(dn: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = "";
  const parts: string[] = [];
  for (let i = 0; i < dn.length; i++) {
    const ch = dn[i]!;
    if (ch === "\\" && i + 1 < dn.length) {
      current += dn[i + 1];
      i++;
    } else if (ch === "," || ch === "+") {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  for (const part of parts) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    const type = part.slice(0, eq).trim().toUpperCase();
    if (!out.has(type)) out.set(type, part.slice(eq + 1).trim());
  }
  return out;
}

/**
 * The family whose rotating intermediates include the certificate with this subject (typically the
 * leaf's issuer), or undefined.
 *
 * @example
 * findRotatingFamily("CN=R11, O=Let's Encrypt, C=US")?.name; // "Let's Encrypt"
 */
export function findRotatingFamily(intermediateSubject: string): CaFamily | undefined {
  const dn = parseDistinguishedName(intermediateSubject);
  const cn = dn.get("CN");
  const org = dn.get("O");
  if (cn === undefined || org === undefined) return undefined;
  return caFamilies.find((family) => family.organization === org && family.intermediate.test(cn));
}

/**
 * The family one of whose roots has this subject (by organization and common name): the self-signed root,
 * or its cross-signed copy (ISRG Root X2 signed by ISRG Root X1), or undefined.
 *
 * @example
 * findRootFamily("CN=ISRG Root X2, O=Internet Security Research Group, C=US")?.name; // "Let's Encrypt"
 */
export function findRootFamily(subject: string): CaFamily | undefined {
  const cn = parseDistinguishedName(subject).get("CN");
  if (cn === undefined) return undefined;
  return caFamilies.find((family) => family.roots.includes(cn));
}
