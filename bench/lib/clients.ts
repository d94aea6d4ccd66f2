// HTTPS clients for the connection benchmarks: plain undici / https baselines with a prebuilt secure
// context, and keypin's pinned ones, all sending GETs to the bench server through a fixed lookup
// (bench.keypin.test → 127.0.0.1, no DNS).
import { randomBytes } from "node:crypto";
import https from "node:https";
import type { LookupFunction } from "node:net";
import tls from "node:tls";
import { type Chain, opensslPinOfCertificateFile } from "@keypin/testkit";
import { Agent, type Dispatcher, request } from "undici";
import type { NodeApi } from "./keypin-api.js";

export const HOST = "bench.keypin.test";

export const lookup: LookupFunction = (_hostname, options, callback) => {
  if (options.all)
    (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [
      { address: "127.0.0.1", family: 4 },
    ]);
  else callback(null, "127.0.0.1", 4);
};

/** The same trust a pinned client gets with `ca: root`: Node's bundled roots plus the bench root. */
export function plainSecureContext(chain: Chain): tls.SecureContext {
  return tls.createSecureContext({ ca: [...tls.rootCertificates, chain.rootPem] });
}

/** A keypin.json object pinning the chain's intermediate, plus a backup pin (a random key's hash). */
export function policyFor(chain: Chain, host = HOST): { domains: Record<string, { pins: string[] }> } {
  const backup = `sha256/${randomBytes(32).toString("base64")}`;
  return { domains: { [host]: { pins: [opensslPinOfCertificateFile(chain.files.intermediate), backup] } } };
}

/** A policy whose pins match nothing in the chain: a pinned client must refuse the server. */
export function wrongPolicy(host = HOST): { domains: Record<string, { pins: string[] }> } {
  return {
    domains: {
      [host]: {
        pins: [
          `sha256/${randomBytes(32).toString("base64")}`,
          `sha256/${randomBytes(32).toString("base64")}`,
        ],
      },
    },
  };
}

export interface Client {
  /** One GET; resolves when the whole response has been read, rejects on any failure. */
  get(path: string): Promise<void>;
  close(): Promise<void>;
}

export function undiciClient(dispatcher: Dispatcher, port: number): Client {
  return {
    async get(path) {
      const res = await request(`https://${HOST}:${port}${path}`, { dispatcher });
      const body = await res.body.text();
      if (res.statusCode !== 200 || body !== "ok\n") throw new Error(`unexpected response ${res.statusCode}`);
    },
    close: () => dispatcher.close(),
  };
}

export function httpsClient(agent: https.Agent, port: number): Client {
  return {
    get: (path) =>
      new Promise((resolve, reject) => {
        const req = https.get({ host: HOST, port, path, agent, lookup }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            body += d;
          });
          res.on("end", () =>
            res.statusCode === 200 && body === "ok\n"
              ? resolve()
              : reject(new Error(`unexpected response ${res.statusCode}`)),
          );
          res.on("error", reject);
        });
        req.on("error", reject);
      }),
    close: async () => agent.destroy(),
  };
}

export type Family = "undici" | "https";

export function plainClient(family: Family, chain: Chain, port: number, keepAlive: boolean): Client {
  const secureContext = plainSecureContext(chain);
  if (family === "undici") {
    return undiciClient(new Agent({ connect: { secureContext, maxCachedSessions: 0, lookup } }), port);
  }
  return httpsClient(new https.Agent({ keepAlive, maxCachedSessions: 0, secureContext }), port);
}

export function pinnedClient(
  node: Pick<NodeApi, "createPinnedDispatcher" | "createPinnedAgent">,
  family: Family,
  chain: Chain,
  port: number,
  keepAlive: boolean,
  policy: unknown = policyFor(chain),
  /** Called once per pin check (keypin's onVerdict), to count the checks a run made. */
  onCheck?: () => void,
): Client {
  const options = {
    policy,
    ca: chain.rootPem,
    connect: { lookup, maxCachedSessions: 0 },
    ...(onCheck ? { onVerdict: onCheck } : {}),
  };
  if (family === "undici") return undiciClient(node.createPinnedDispatcher(options), port);
  return httpsClient(
    node.createPinnedAgent({ ...options, agent: { keepAlive, maxCachedSessions: 0 } }),
    port,
  );
}
