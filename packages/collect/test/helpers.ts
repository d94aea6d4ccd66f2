// Helpers of the collector's tests: a collector on a real socket, POSTs with node:http, report JSON of
// each sender's documented shape built from generated chains.
import { request } from "node:http";
import type { TestChain } from "@keypin/testkit";

export interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** POSTs `body` (a string or bytes) to `url` on a fresh connection and resolves with the answer. */
export function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", ...headers },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text);
        } catch {
          json = { text };
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.end(body);
  });
}

/** One entry of `GET /api/groups`, as the README documents it. */
export interface ApiGroup {
  id: string;
  host: string;
  port: number;
  notedHost: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  classification: string;
  evidence: string[];
  result: number | null;
  source: string;
  knownPins: string[];
  servedChain: string[];
  validatedChain: string[];
  chain: { subject: string; issuer: string; pin: string }[];
}

/** What the JSON API answers: `groups`, `series` or an `error`, by path. */
export interface ApiAnswer {
  groups: ApiGroup[];
  series: { host: string; minute: string; count: number }[];
  error?: string;
}

export async function getJson(url: string): Promise<{ status: number; json: ApiAnswer }> {
  const res = await fetch(url);
  return { status: res.status, json: (await res.json()) as ApiAnswer };
}

export const hpkp = (pin: string): string => `pin-sha256="${pin.replace(/^sha256\//, "")}"`;

/** TrustKit iOS's report (TSKPinFailureReport): app fields, no served chain, pins as pin-sha256="…". */
export function trustKitIosReport(
  chain: TestChain,
  host: string,
  port: number,
  pins: string[],
): Record<string, unknown> {
  return {
    "app-bundle-id": "com.example.app",
    "app-version": "1.2.3",
    "app-vendor-id": "599F9C00-92DC-4B5C-9464-7971F01F8370",
    "app-platform": "IOS",
    "app-platform-version": "17.4.1",
    "trustkit-version": "3.0.4",
    hostname: host,
    port,
    "noted-hostname": host,
    "include-subdomains": false,
    "enforce-pinning": true,
    "validated-certificate-chain": [chain.leaf.pem, chain.intermediate.pem, chain.root.pem],
    "known-pins": pins.map(hpkp),
    "validation-result": 1,
    "date-time": "2026-12-01T10:00:00Z",
  };
}

/** TrustKit Android's report (PinningFailureReport.toJson): as iOS, with the served chain. */
export function trustKitAndroidReport(
  chain: TestChain,
  host: string,
  port: number,
  pins: string[],
): Record<string, unknown> {
  return {
    ...trustKitIosReport(chain, host, port, pins),
    "app-platform": "ANDROID",
    "app-platform-version": "34",
    "trustkit-version": "1.1.5",
    "served-certificate-chain": [chain.leaf.pem, chain.intermediate.pem],
  };
}

/** RFC 7469 §3's report: no TrustKit fields. */
export function rfc7469Report(
  chain: TestChain,
  host: string,
  port: number,
  pins: string[],
): Record<string, unknown> {
  return {
    "date-time": "2026-12-01T10:00:00Z",
    hostname: host,
    port,
    "effective-expiration-date": "2027-01-01T00:00:00Z",
    "include-subdomains": false,
    "noted-hostname": host,
    "served-certificate-chain": [chain.leaf.pem, chain.intermediate.pem],
    "validated-certificate-chain": [chain.leaf.pem, chain.intermediate.pem, chain.root.pem],
    "known-pins": pins.map(hpkp),
  };
}
