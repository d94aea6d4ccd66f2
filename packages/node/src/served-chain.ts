import type { TLSSocket } from "node:tls";
import { type ParsedCertificate, parseX509 } from "./parsed-certificate.js";

/** Longest chain reported, as `peerChainOf` does: real servers send 2 to 4 certificates. */
const MAX_CHAIN = 32;

/**
 * Every certificate the server sent in this handshake, exactly as OpenSSL received them, in order, and nothing
 * else (no root taken from the local store). Node 20's `getPeerX509Certificate()` hands out the peer chain OpenSSL
 * kept and *empties it* on the way (a second call, or a later `getPeerCertificate`, sees nothing), so call this
 * once, after everything that reads the peer certificate, and only on a socket about to be closed.
 */
export function readSentCertificates(socket: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  let cert = socket.getPeerX509Certificate();
  while (cert && out.length < MAX_CHAIN * 2) {
    out.push(new Uint8Array(cert.raw));
    cert = cert.issuerCertificate;
  }
  return out;
}

/**
 * The sent certificates ordered the way Node's `getPeerCertificate(true)` links them, minus what Node adds from
 * its own store: the leaf, then repeatedly the first remaining sent certificate that OpenSSL says could have
 * issued the current one (`X509_check_issued`: names, key identifiers, key usage; no signature), until none does
 * or a certificate repeats. Sent certificates that do not link are left out, as Node leaves them out. Like Node's
 * links, this ordering proves nothing: only `buildVerifiedPath` decides what is trusted.
 */
export function linkSentCertificates(sent: readonly Uint8Array[]): Uint8Array[] {
  const leafDer = sent[0];
  if (!leafDer) return [];
  let current: ParsedCertificate;
  try {
    current = parseX509(leafDer);
  } catch {
    return [new Uint8Array(leafDer)];
  }
  const remaining: ParsedCertificate[] = [];
  for (const der of sent.slice(1)) {
    try {
      remaining.push(parseX509(der));
    } catch {
      // OpenSSL parsed it to receive it; if node:crypto cannot, it links to nothing
    }
  }
  const chain = [current];
  const seen = new Set([current.key]);
  while (chain.length < MAX_CHAIN) {
    const index = remaining.findIndex((candidate) => current.x509.checkIssued(candidate.x509));
    if (index < 0) break;
    const issuer = remaining[index]!;
    remaining.splice(index, 1);
    if (seen.has(issuer.key)) break; // a self-signed certificate sent twice: Node's chain ends there too
    seen.add(issuer.key);
    chain.push(issuer);
    current = issuer;
  }
  return chain.map((cert) => cert.der);
}
