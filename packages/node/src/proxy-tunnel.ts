import { connect as connectTcp, isIPv6, type Socket } from "node:net";
import { KeypinError } from "@keypin/core";

/** Parses an HTTP proxy URL, refusing what this module cannot speak. */
export function parseProxyUrl(proxy: string): URL {
  let url: URL;
  try {
    url = new URL(proxy);
  } catch {
    throw new KeypinError(
      "ERR_KEYPIN_PROXY",
      `Expected a proxy URL like http://proxy.local:3128 but got "${withoutCredentials(proxy)}".`,
    );
  }
  if (url.protocol !== "http:") {
    throw new KeypinError(
      "ERR_KEYPIN_PROXY",
      `Expected an http: proxy URL (HTTP CONNECT) but got ${url.protocol} in "${url.host}".`,
    );
  }
  return url;
}

/**
 * The proxy text without what may be its user name and password (everything up to the last "@"): a URL that does
 * not parse still must not put `user:password` in an error message or a log. Review: it did.
 */
function withoutCredentials(text: string): string {
  const at = text.lastIndexOf("@");
  return at < 0 ? text : `…${text.slice(at)}`;
}

function authority(host: string, port: number): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/**
 * Opens a TCP connection to `host:port` through an HTTP proxy with CONNECT and resolves with the tunnel socket,
 * ready for `tls.connect({ socket })`. Failures are KeypinError `ERR_KEYPIN_PROXY` (proxy unreachable, refused,
 * answered with something else than 2xx); the caller handles the timeout.
 */
export function openProxyTunnel(proxy: string, host: string, port: number): Promise<Socket> {
  const url = parseProxyUrl(proxy);
  const proxyPort = Number(url.port || 80);
  const proxyHost = url.hostname.replace(/^\[|\]$/g, "");
  const target = authority(host, port);
  return new Promise<Socket>((resolve, reject) => {
    const socket = connectTcp({ host: proxyHost, port: proxyPort });
    let buffered = Buffer.alloc(0);
    const fail = (message: string, cause?: unknown): void => {
      socket.destroy();
      reject(new KeypinError("ERR_KEYPIN_PROXY", message, { cause }));
    };
    const onError = (error: Error): void =>
      fail(`Cannot reach the proxy ${url.host} to open a tunnel to ${target}: ${error.message}.`, error);
    const onClose = (): void =>
      fail(`The proxy ${url.host} closed the connection before answering CONNECT ${target}.`);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) {
        if (buffered.length > 64 * 1024)
          fail(`The proxy ${url.host} sent an oversized answer to CONNECT ${target}.`);
        return;
      }
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
      const statusLine = buffered.subarray(0, buffered.indexOf("\r\n")).toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
      if (!status?.startsWith("2")) {
        fail(
          `The proxy ${url.host} refused CONNECT ${target}: expected a 2xx answer but got "${statusLine.slice(0, 100)}".`,
        );
        return;
      }
      const rest = buffered.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
    const headers = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`];
    if (url.username) {
      const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      headers.push(`Proxy-Authorization: Basic ${Buffer.from(credentials).toString("base64")}`);
    }
    socket.write(`${headers.join("\r\n")}\r\n\r\n`);
  });
}
