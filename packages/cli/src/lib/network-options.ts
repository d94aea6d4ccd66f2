import { decodePem, parseCertificate } from "@keypin/core";
import { type ParsedArgs, positiveInteger, singleString, stringList } from "../args.js";
import { UsageError } from "../errors.js";
import { readTextInput } from "./read-input.js";

/** The default `--timeout`: long enough for a slow mobile network and a proxy, short enough for CI. */
export const defaultTimeoutMs = 10_000;

/** One `--connect-to HOST1:PORT1:HOST2:PORT2` rule (curl's syntax; empty parts match anything / keep). */
export interface ConnectToRule {
  fromHost?: string;
  fromPort?: number;
  toHost?: string;
  toPort?: number;
}

/** The network options `inspect` and `check` share. */
export interface NetworkOptions {
  servername?: string;
  connectTo: ConnectToRule[];
  /** Extra trust anchors (PEM text of each --ca file), added to Node's trust. */
  ca: string[];
  proxy?: string;
  /** NO_PROXY / no_proxy entries, applied only to a proxy that came from the environment. */
  noProxy: string[];
  timeout: number;
}

/** The argument definitions of the network options (see `ArgsDef` in command.ts). */
export const networkArgs = {
  servername: {
    type: "string",
    valueHint: "NAME",
    description: "TLS server name (SNI) and name to verify, if not the host",
  },
  "connect-to": {
    type: "string",
    valueHint: "H1:P1:H2:P2",
    description: "connect to H2:P2 when asked for H1:P1, like curl (repeatable)",
    repeatable: true,
  },
  ca: {
    type: "string",
    valueHint: "FILE",
    description: "extra trusted CA certificates in PEM, like a CA installed on a device (repeatable)",
    repeatable: true,
  },
  proxy: { type: "string", valueHint: "URL", description: "HTTP CONNECT proxy (default: HTTPS_PROXY)" },
  timeout: {
    type: "string",
    valueHint: "MS",
    description: "connection timeout in milliseconds",
    default: String(defaultTimeoutMs),
  },
} as const;

/**
 * Splits `host`, `host:port`, `[v6]:port` or a bare IPv6 address; the port defaults to 443.
 *
 * @example
 * parseHostPort("api.myapp.com:8443"); // { host: "api.myapp.com", port: 8443 }
 * parseHostPort("[::1]:443"); // { host: "::1", port: 443 }
 */
export function parseHostPort(text: string, defaultPort = 443): { host: string; port: number } {
  const bad = (why: string) => new UsageError(`"${text}" is not a host or host:port: ${why}`);
  let host = text;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1) throw bad("missing ]");
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) throw bad(`unexpected "${after}" after ]`);
      portText = after.slice(1);
    }
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host, portText] = text.split(":") as [string, string];
  }
  if (host === "") throw bad("empty host");
  if (/[/\s@?#]/.test(host) || host.includes("://")) throw bad("give a host name, not a URL");
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw bad(`port must be 1–65535 (got "${portText}")`);
    }
    port = Number(portText);
  }
  return { host, port };
}

function splitConnectTo(text: string): string[] {
  // Fields are separated by ':'; an IPv6 address is written in brackets.
  const fields: string[] = [];
  let current = "";
  let inBrackets = false;
  for (const ch of text) {
    if (ch === "[") inBrackets = true;
    if (ch === "]") inBrackets = false;
    if (ch === ":" && !inBrackets) {
      fields.push(current);
      current = "";
    } else current += ch;
  }
  fields.push(current);
  return fields.map((f) => (f.startsWith("[") && f.endsWith("]") ? f.slice(1, -1) : f));
}

/**
 * Parses curl's `--connect-to HOST1:PORT1:HOST2:PORT2`. An empty HOST1/PORT1 matches any host/port;
 * an empty HOST2/PORT2 keeps the original.
 *
 * @example
 * parseConnectTo("api.myapp.com:443:127.0.0.1:8443"); // { fromHost: "api.myapp.com", fromPort: 443, toHost: "127.0.0.1", toPort: 8443 }
 */
export function parseConnectTo(text: string): ConnectToRule {
  const fields = splitConnectTo(text);
  if (fields.length !== 4) {
    throw new UsageError(
      `--connect-to "${text}" must be HOST1:PORT1:HOST2:PORT2 (parts may be empty; IPv6 in [ ])`,
    );
  }
  const port = (value: string): number | undefined => {
    if (value === "") return undefined;
    if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
      throw new UsageError(`--connect-to "${text}": port must be 1–65535 (got "${value}")`);
    }
    return Number(value);
  };
  const [fromHost, fromPort, toHost, toPort] = fields as [string, string, string, string];
  const rule: ConnectToRule = {};
  if (fromHost !== "") rule.fromHost = fromHost.toLowerCase();
  const fp = port(fromPort);
  if (fp !== undefined) rule.fromPort = fp;
  if (toHost !== "") rule.toHost = toHost;
  const tp = port(toPort);
  if (tp !== undefined) rule.toPort = tp;
  return rule;
}

/**
 * Where to really connect for `host:port` under the `--connect-to` rules (the first matching rule wins).
 *
 * @example
 * resolveConnectTo([{ toHost: "127.0.0.1", toPort: 8443 }], "api.myapp.com", 443); // { connectHost: "127.0.0.1", connectPort: 8443 }
 */
export function resolveConnectTo(
  rules: readonly ConnectToRule[],
  host: string,
  port: number,
): { connectHost?: string; connectPort?: number } {
  const name = host.toLowerCase().replace(/\.$/, "");
  for (const rule of rules) {
    if (rule.fromHost !== undefined && rule.fromHost.replace(/\.$/, "") !== name) continue;
    if (rule.fromPort !== undefined && rule.fromPort !== port) continue;
    const out: { connectHost?: string; connectPort?: number } = {};
    if (rule.toHost !== undefined) out.connectHost = rule.toHost;
    if (rule.toPort !== undefined) out.connectPort = rule.toPort;
    return out;
  }
  return {};
}

/**
 * Reads and validates the network options (files are read now, so a bad one is exit 2 before any output).
 *
 * @example
 * const net = readNetworkOptions(args, "keypin inspect");
 */
export function readNetworkOptions(args: ParsedArgs, command: string): NetworkOptions {
  const ca = stringList(args.ca).map((file) => {
    const text = readTextInput(file, "CA certificate in PEM");
    let blocks: ReturnType<typeof decodePem>;
    try {
      blocks = decodePem(text).filter((b) => b.label === "CERTIFICATE");
    } catch (error) {
      throw new UsageError(`--ca ${file}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    if (blocks.length === 0)
      throw new UsageError(`--ca ${file}: no "BEGIN CERTIFICATE" block found (expected PEM)`);
    for (const block of blocks) {
      try {
        parseCertificate(block.der);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new UsageError(`--ca ${file}: the certificate at line ${block.line} is not valid: ${message}`, {
          cause: error,
        });
      }
    }
    return text;
  });
  const flagProxy = singleString(args.proxy, "--proxy", command);
  const proxy = flagProxy ?? (process.env.HTTPS_PROXY || process.env.https_proxy || undefined);
  const noProxy =
    flagProxy === undefined
      ? (process.env.NO_PROXY || process.env.no_proxy || "")
          .split(/[\s,]+/)
          .map((entry) => entry.trim().toLowerCase())
          .filter(Boolean)
      : [];
  if (proxy !== undefined) {
    // A proxy URL may carry a user and password (HTTPS_PROXY=http://user:pass@host): never echo them.
    const shown = proxy.replace(/^([^/]*\/\/)?[^/@]*@/, "$1…@");
    let url: URL;
    try {
      url = new URL(proxy);
    } catch {
      throw new UsageError(`proxy "${shown}" is not a URL like http://127.0.0.1:8080`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new UsageError(`proxy "${shown}" must be an http:// or https:// URL of an HTTP CONNECT proxy`);
    }
  }
  const servername = singleString(args.servername, "--servername", command);
  if (servername !== undefined && !/^[A-Za-z0-9.-]+$/.test(servername)) {
    throw new UsageError(`--servername "${servername}" is not a DNS name`);
  }
  const timeoutText = singleString(args.timeout, "--timeout", command) ?? String(defaultTimeoutMs);
  const options: NetworkOptions = {
    connectTo: stringList(args["connect-to"]).map(parseConnectTo),
    ca,
    noProxy,
    timeout: positiveInteger(timeoutText, "--timeout", command),
  };
  if (servername !== undefined) options.servername = servername;
  if (proxy !== undefined) options.proxy = proxy;
  return options;
}

/**
 * Whether NO_PROXY entries exempt `host:port` from the environment's proxy (curl's rules: `*` matches
 * every host; `example.com` and `.example.com` match the domain and its subdomains; `host:port` only
 * that port).
 *
 * @example
 * bypassesProxy(["localhost", ".internal.example"], "api.internal.example", 443); // true
 */
export function bypassesProxy(noProxy: readonly string[], host: string, port: number): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return noProxy.some((entry) => {
    if (entry === "*") return true;
    let pattern = entry;
    const portMatch = /^(.*):(\d+)$/.exec(entry);
    if (portMatch && !entry.includes("]") && (entry.match(/:/g) ?? []).length === 1) {
      if (Number(portMatch[2]) !== port) return false;
      pattern = portMatch[1]!;
    }
    pattern = pattern.replace(/^\*?\./, "").replace(/^\[|\]$/g, "");
    return name === pattern || name.endsWith(`.${pattern}`);
  });
}
