import type { DetailedPeerCertificate, PeerCertificate } from "node:tls";

/**
 * The certificates Node reports for a peer, leaf first, following `issuerCertificate`: the served certificates that
 * link by name, plus the root Node found in its store. These are only *candidates*: Node links them without
 * checking signatures, so nothing here is trusted until `buildVerifiedPath` has verified it.
 */
export function peerChainOf(cert: PeerCertificate | DetailedPeerCertificate | undefined): Uint8Array[] {
  const raws: Buffer[] = [];
  const seen = new Set<string>();
  let current = cert as DetailedPeerCertificate | undefined;
  let total = 0;
  while (current?.raw && raws.length < 32) {
    const key = current.fingerprint256 || current.raw.toString("base64");
    if (seen.has(key)) break;
    seen.add(key);
    raws.push(current.raw);
    total += current.raw.length;
    current = current.issuerCertificate;
  }
  // Copies (the caller keeps them), all in one allocation: Node's pool when the chain is under 4 KB. A new
  // Uint8Array per certificate was an ArrayBuffer each, a few µs apiece right after a handshake.
  const copy = Buffer.allocUnsafe(total);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const raw of raws) {
    copy.set(raw, at);
    out.push(new Uint8Array(copy.buffer, copy.byteOffset + at, raw.length));
    at += raw.length;
  }
  return out;
}

/**
 * True when `peerChainOf(cert)` would give exactly `served` (same certificates, byte for byte, same order), found
 * without copying anything: a handshake that serves the chain of the previous one is recognized by a memcmp.
 */
export function isPeerChain(
  cert: PeerCertificate | DetailedPeerCertificate | undefined,
  served: readonly Uint8Array[],
): boolean {
  const seen: string[] = [];
  let current = cert as DetailedPeerCertificate | undefined;
  let count = 0;
  while (current?.raw && count < 32) {
    const key = current.fingerprint256 || current.raw.toString("base64");
    if (seen.includes(key)) break;
    seen.push(key);
    const expected = served[count];
    if (!expected || Buffer.compare(current.raw, expected) !== 0) return false;
    count++;
    current = current.issuerCertificate;
  }
  return count === served.length;
}
