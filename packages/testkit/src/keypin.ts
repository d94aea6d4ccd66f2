// Small helpers for pinned-client tests.

import { randomBytes } from "node:crypto";
import type { DomainPolicyInput, PolicyFile } from "@keypin/core";

/** A pin of a key that exists nowhere (a stand-in for "someone else's key"). */
export function unrelatedPin(): `sha256/${string}` {
  return `sha256/${randomBytes(32).toString("base64")}`;
}

/** A keypin.json object from { host: pins | domain policy }. */
export function policyOf(domains: Record<string, string[] | DomainPolicyInput>): PolicyFile {
  const out: Record<string, DomainPolicyInput> = {};
  for (const [host, value] of Object.entries(domains))
    out[host] = Array.isArray(value) ? { pins: value } : value;
  return { domains: out };
}

/** The first `code` starting with ERR_KEYPIN_ along an error's `cause` chain (clients wrap our errors). */
export function keypinCodeOf(error: unknown): string | undefined {
  let current = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 6; depth++) {
    if (typeof current.code === "string" && current.code.startsWith("ERR_KEYPIN_")) return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the request to fail, but it succeeded");
}
