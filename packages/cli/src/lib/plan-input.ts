import { X509Certificate } from "node:crypto";
import {
  type CertificateInfo,
  computePin,
  type DomainPolicy,
  decodePem,
  parseCertificate,
} from "@keypin/core";
import { sha256 } from "@keypin/node";
import { ariCertId, type PlanCaFamily, type PlanCertificate, type PlanHostInput } from "@keypin/plan";
import { UsageError } from "../errors.js";
import { type CaFamily, findRootFamily, findRotatingFamily } from "./ca-families.js";
import { readTextInput } from "./read-input.js";

function familyOf(family: CaFamily | undefined): PlanCaFamily | undefined {
  if (!family) return undefined;
  return {
    id: family.id,
    name: family.name,
    intermediateNames: family.intermediateNames,
    roots: family.roots,
  };
}

/**
 * A verified path (leaf first) as the planner's plain data: pins, dates, and the CA families of the CLI's
 * table that the certificates belong to.
 *
 * @example
 * const path = toPlanPath(inspection.verified);
 */
export function toPlanPath(path: readonly CertificateInfo[]): PlanCertificate[] {
  return path.map((cert) => {
    const out: PlanCertificate = {
      subject: cert.subject,
      issuer: cert.issuer,
      pin: computePin(cert.spki, sha256),
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      selfSigned: cert.names.subject === cert.names.issuer,
    };
    const rotating = familyOf(findRotatingFamily(cert.subject));
    if (rotating) out.rotatingFamily = rotating;
    const root = familyOf(findRootFamily(cert.subject));
    if (root) out.rootOf = root;
    return out;
  });
}

/**
 * The leaf's ARI identifier (RFC 9773 §4.1), when it has an authorityKeyIdentifier.
 *
 * @example
 * leafAriCertId(inspection.verified[0]); // "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
 */
export function leafAriCertId(leaf: CertificateInfo): string | undefined {
  const keyId = leaf.constraints.authorityKeyId;
  return keyId ? ariCertId(keyId, leaf.serialNumber) : undefined;
}

/**
 * Reads a chain file for `--offline` (PEM, the leaf first, then each issuer) and checks that each certificate
 * is signed by the next one; the path may stop below the root. A file that is not such a chain is a
 * `UsageError` naming the certificate that breaks it.
 *
 * @example
 * const path = readChainFile("api.pem", "api.myapp.com");
 */
export function readChainFile(file: string, host: string, includeSubdomains = false): CertificateInfo[] {
  const text = readTextInput(file, "certificate chain in PEM, leaf first");
  let blocks: ReturnType<typeof decodePem>;
  try {
    blocks = decodePem(text).filter((b) => b.label === "CERTIFICATE");
  } catch (error) {
    throw new UsageError(
      `--chain ${host}=${file}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  if (blocks.length === 0)
    throw new UsageError(`--chain ${host}=${file}: no "BEGIN CERTIFICATE" block (expected PEM, leaf first)`);
  const certs = blocks.map((block) => {
    try {
      return { info: parseCertificate(block.der), x509: new X509Certificate(block.der), line: block.line };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new UsageError(
        `--chain ${host}=${file}: the certificate at line ${block.line} is not valid: ${message}`,
        {
          cause: error,
        },
      );
    }
  });
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i]!;
    const parent = certs[i + 1]!;
    if (child.info.names.issuer !== parent.info.names.subject || !child.x509.verify(parent.x509.publicKey)) {
      throw new UsageError(
        `--chain ${host}=${file}: the certificate at line ${parent.line} (${parent.info.subject}) did not sign the one before it (${child.info.subject}, issued by ${child.info.issuer}); put the leaf first, then each issuer`,
      );
    }
  }
  const leaf = certs[0]!.x509;
  // An includeSubdomains entry may be planned from a subdomain's chain.
  if (!includeSubdomains && !leaf.checkHost(host) && !leaf.checkIP(host)) {
    throw new UsageError(
      `--chain ${host}=${file}: the first certificate (${certs[0]!.info.subject}) is not for ${host}; put the leaf first`,
    );
  }
  return certs.map((c) => c.info);
}

/**
 * The planner's input for one policy entry.
 *
 * @example
 * planInputOf(domainPolicy, 443, { path, reuseKey: false });
 */
export function planInputOf(
  domain: DomainPolicy,
  port: number,
  live: { path?: readonly CertificateInfo[]; error?: string; reuseKey: boolean; ari?: PlanHostInput["ari"] },
): PlanHostInput {
  const input: PlanHostInput = {
    host: domain.domain,
    port,
    domain: domain.domain,
    mode: domain.mode,
    pins: domain.pins,
    reuseKey: live.reuseKey,
  };
  if (live.path && live.path.length > 0) {
    input.path = toPlanPath(live.path);
    const id = leafAriCertId(live.path[0]!);
    if (id !== undefined) input.ariCertId = id;
  }
  if (live.error !== undefined) input.error = live.error;
  if (live.ari !== undefined) input.ari = live.ari;
  return input;
}
