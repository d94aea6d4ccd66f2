import type { LabStep } from "./events.js";
import type { ProxyLogEntry } from "./proxy.js";

/**
 * What a closed tunnel says about the client, from the proxy's own counts: a client that completed the
 * handshake and closed without sending a byte refused the certificate after the handshake. (A client that
 * opens a tunnel and never uses it, such as a browser's speculative preconnect, closes the same way; the
 * tools the `keep` step prints do not.)
 */
function closedText(entry: Extract<ProxyLogEntry, { kind: "closed" }>): string {
  if (entry.appBytes > 0) {
    const bytes = `${entry.appBytes} byte${entry.appBytes === 1 ? "" : "s"}`;
    return `tunnel closed; the client accepted the forged certificate and sent ${bytes} of application data`;
  }
  if (entry.handshake) {
    return (
      "tunnel closed; the client closed without sending a byte: it refused the forged certificate after the " +
      "handshake (what curl --pinnedpubkey and OkHttp's CertificatePinner do)"
    );
  }
  return "tunnel closed before the TLS handshake completed; 0 bytes of application data read from the client";
}

/**
 * A live step for what the proxy logged from your own tools (`--keep`). The words claim only what the log
 * shows: a completed handshake is not acceptance; the `closed` entry's byte count says whether the client
 * went on to send its request.
 *
 * @example
 * cast.proxy.onLog = (entry) => emit(proxyLogStep(entry));
 */
export function proxyLogStep(entry: ProxyLogEntry): LabStep {
  const actor = "proxy";
  switch (entry.kind) {
    case "connect":
      return {
        actor,
        step: "intercept",
        text: `CONNECT ${entry.host}:${entry.port}`,
        route: ["client", "proxy"],
        data: { ...entry },
      };
    case "forge":
      return {
        actor,
        step: "intercept",
        text: `presents a forged ${entry.subject}, issued by ${entry.issuer}`,
        route: ["proxy", "client"],
        data: { ...entry },
      };
    case "handshake":
      return {
        actor,
        step: "intercept",
        // Not yet acceptance: a pinning client (curl --pinnedpubkey, OkHttp's CertificatePinner) checks the
        // key after the handshake and hangs up then; what the client does next (the `closed` entry) tells.
        text: `TLS handshake completed with the forged certificate (${entry.protocol})`,
        route: [],
        data: { ...entry },
      };
    case "handshake-failed":
      return {
        actor,
        step: "intercept",
        text: `the client refused the forged certificate during the TLS handshake (${entry.reason})`,
        route: [],
        data: { ...entry },
      };
    case "request":
      return {
        actor,
        step: "decrypt",
        text: `decrypted ${entry.startLine}; authorization: ${entry.headers["authorization"] ?? "(none)"}`,
        route: ["client", "proxy"],
        data: { ...entry },
      };
    case "relay":
      return {
        actor,
        step: "relay",
        text: `relays to ${entry.host}:${entry.port}`,
        route: ["proxy", entry.host],
        data: { ...entry },
      };
    case "response":
      return {
        actor,
        step: "decrypt",
        text: `decrypted ${entry.startLine} ${entry.body}`,
        route: ["proxy", "client"],
        data: { ...entry },
      };
    case "upstream-error":
      return {
        actor,
        step: "relay",
        text: `could not reach the server: ${entry.reason}`,
        route: [],
        data: { ...entry },
      };
    case "closed":
      return {
        actor,
        step: "decrypt",
        text: closedText(entry),
        route: [],
        data: { ...entry },
      };
    default: {
      const unreachable: never = entry;
      throw new Error(`unknown proxy log entry ${JSON.stringify(unreachable)}`);
    }
  }
}
