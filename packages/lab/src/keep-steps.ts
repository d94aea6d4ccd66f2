import type { LabStep } from "./events.js";
import type { ProxyLogEntry } from "./proxy.js";

/** A live step for what the proxy logged from your own tools (`--keep`). */
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
        text: `the client accepted the forged certificate (${entry.protocol})`,
        route: [],
        data: { ...entry },
      };
    case "handshake-failed":
      return {
        actor,
        step: "intercept",
        text: `the client refused the forged certificate (${entry.reason})`,
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
        text: `tunnel closed; ${entry.appBytes} bytes of application data read from the client`,
        route: [],
        data: { ...entry },
      };
    default: {
      const unreachable: never = entry;
      throw new Error(`unknown proxy log entry ${JSON.stringify(unreachable)}`);
    }
  }
}
