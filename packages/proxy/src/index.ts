// @keypin/proxy: the intercepting proxy engine (the lab's attacker, the tests' forging proxy, the audit proxy).
// The exports below are the whole public API.

export { type HttpMessage, HttpMessageReader } from "./http-reader.js";
export {
  type FailureStage,
  type ForgedCertificate,
  type InterceptEvent,
  InterceptingProxy,
  type InterceptingProxyOptions,
  type UpstreamOptions,
} from "./intercepting-proxy.js";
