// @keypin/proxy: the intercepting proxy engine (the lab's attacker, the tests' forging proxy, the audit proxy).
// The exports below are the whole public API.

export { type HttpMessage, HttpMessageReader, type HttpReaderLimits } from "./http-reader.js";
export { InterceptingProxy } from "./intercepting-proxy.js";
export type {
  FailureStage,
  ForgedCertificate,
  InterceptEvent,
  InterceptingProxyOptions,
  UpstreamOptions,
} from "./types.js";
