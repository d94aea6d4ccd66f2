import { type ChainEntry, computePin, type Pin, parseCertificate } from "@keypin/core";
import { sha256 } from "@keypin/node";

/**
 * A public certificate as the lab's steps show it: names, SPKI pin, PEM (never a private key).
 *
 * @example
 * const view: LabCertificateView = viewCertificate(der);
 * view.pin; // sha256/…
 */
export interface LabCertificateView {
  subject: string;
  issuer: string;
  pin: Pin;
  pem: string;
}

/** A certificate of a verified path: the `extract-pin` step's `certificates`, same order as `chainPins`. */
export interface LabPathCertificate {
  subject: string;
  pin: Pin;
  pem: string;
}

/**
 * PEM text of a DER certificate (base64 in lines of 64, as openssl writes it).
 *
 * @example
 * writeFileSync("leaf.pem", certificatePem(der));
 */
export function certificatePem(der: Uint8Array): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/**
 * Subject, issuer, pin and PEM of a DER certificate.
 *
 * @example
 * viewCertificate(cast.leaf.der).subject; // "CN=api.myapp.com, O=My App"
 */
export function viewCertificate(der: Uint8Array): LabCertificateView {
  const info = parseCertificate(der);
  return {
    subject: info.subject,
    issuer: info.issuer,
    pin: computePin(info.spki, sha256),
    pem: certificatePem(der),
  };
}

/**
 * The certificates of a verified path, found by subject and pin among `pool` (what the server sent and the
 * device's anchors), in the order of `chain`. Subject and pin both count: the proxy's forged leaf carries its
 * CA's key, so two certificates of the path share a pin. Throws if one is missing (a bug of the lab).
 *
 * @example
 * pathCertificates(error.chainPins, [...presented, ...anchors]);
 */
export function pathCertificates(chain: ChainEntry[], pool: Uint8Array[]): LabPathCertificate[] {
  const views = pool.map(viewCertificate);
  return chain.map((entry) => {
    const found = views.find((view) => view.subject === entry.subject && view.pin === entry.pin);
    if (!found) {
      throw new Error(`the lab found no certificate for ${entry.subject} (${entry.pin}) among those it saw`);
    }
    return { subject: found.subject, pin: found.pin, pem: found.pem };
  });
}
