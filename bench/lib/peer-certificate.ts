// Node's shape for a peer chain, as getPeerCertificate(true) gives it to checkServerIdentity: legacy objects
// linked by issuerCertificate, leaf → intermediate → root, the root linked to itself.
import { X509Certificate } from "node:crypto";
import type { DetailedPeerCertificate } from "node:tls";

export function peerCertificate(
  leaf: Uint8Array,
  intermediate: Uint8Array,
  root: Uint8Array,
): DetailedPeerCertificate {
  const legacy = (der: Uint8Array) => new X509Certificate(der).toLegacyObject() as DetailedPeerCertificate;
  const r = legacy(root);
  r.issuerCertificate = r;
  const i = legacy(intermediate);
  i.issuerCertificate = r;
  const l = legacy(leaf);
  l.issuerCertificate = i;
  return l;
}
