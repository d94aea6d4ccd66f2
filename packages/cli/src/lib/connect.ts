import type { TlsInspection } from "@keypin/node";
import { inspectTls } from "@keypin/node";
import { codeOf, FailureError } from "../errors.js";
import { bypassesProxy, type NetworkOptions, resolveConnectTo } from "./network-options.js";

/**
 * Connects to `host:port` with the network options (`--servername`, `--connect-to`, `--ca`, `--proxy`,
 * `--timeout`) and returns what the server sent and the signature-verified path. Network failures
 * (refused, unreachable, timeout, not TLS, proxy refused) become a `FailureError` (exit 1) naming the host.
 *
 * @example
 * const inspection = await inspectHost({ host: "api.myapp.com", port: 443 }, net);
 */
export async function inspectHost(
  target: { host: string; port: number },
  net: NetworkOptions,
): Promise<TlsInspection> {
  const route = resolveConnectTo(net.connectTo, target.host, target.port);
  const options: Parameters<typeof inspectTls>[0] = {
    host: target.host,
    port: target.port,
    timeout: net.timeout,
  };
  if (net.servername !== undefined) options.servername = net.servername;
  if (net.ca.length > 0) options.ca = net.ca;
  if (net.proxy !== undefined && !bypassesProxy(net.noProxy, target.host, target.port))
    options.proxy = net.proxy;
  if (route.connectHost !== undefined) options.connectHost = route.connectHost;
  if (route.connectPort !== undefined) options.connectPort = route.connectPort;
  try {
    return await inspectTls(options);
  } catch (error) {
    const code = codeOf(error);
    if (code?.startsWith("ERR_KEYPIN_")) {
      const where = `${formatTarget(target)}${route.connectHost || route.connectPort ? ` (via ${route.connectHost ?? target.host}:${route.connectPort ?? target.port})` : ""}`;
      const message = error instanceof Error ? error.message : String(error);
      throw new FailureError(message.includes(target.host) ? message : `${where}: ${message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * `host:port`, with brackets around IPv6 addresses.
 *
 * @example
 * formatTarget({ host: "::1", port: 443 }); // "[::1]:443"
 */
export function formatTarget(target: { host: string; port: number }): string {
  return `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
}
