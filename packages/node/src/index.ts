// @keypin/node: public-key pinning for Node's TLS connections. The exports below are the whole public API.

export { createPinnedAgent, createPinnedDispatcher, pinnedTlsOptions } from "./clients.js";
export { PinCheckError, PinMismatchError, UntrustedChainError, type UntrustedReason } from "./errors.js";
export {
  connectPinnedHttp2,
  createPinnedGotAgents,
  createPinnedHttp2Agent,
  type Http2Wrapper,
  type Http2WrapperAgent,
} from "./http2.js";
export { type InspectTlsOptions, inspectTls, type TlsInspection } from "./inspect-tls.js";
export type { PinningOptions } from "./pin-checker.js";
export { loadPolicyFile, PolicyFileError, type PolicyFileProblem, parsePolicyText } from "./policy-file.js";
export { spkiOfPrivateKey } from "./private-key.js";
export { sha256 } from "./sha256.js";
export type { TlsSocketHooks } from "./socket-hooks.js";
export {
  buildVerifiedPath,
  type PathSearch,
  type RejectedIssuer,
  searchVerifiedPath,
} from "./verified-path.js";
