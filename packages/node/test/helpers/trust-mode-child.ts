// Run by trust-modes.test.ts in a child process, started with the environment and flags of one trust mode (Node
// reads NODE_EXTRA_CA_CERTS and its CA store flags at start-up). Before any TLS, it can change the environment
// as a dotenv loader would, or call tls.setDefaultCACertificates. Then, for each target server, it asks an
// unpinned client (Node's own verdict), a pinned client, inspectTls, and naive anchor sets; it prints one JSON line.
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import { decodePem } from "@keypin/core";
import { buildVerifiedPath, createPinnedDispatcher, inspectTls } from "@keypin/node";
import { keypinCodeOf, lookupLocal } from "@keypin/testkit";
import { Agent, fetch } from "undici";

interface Target {
  name: string;
  port: number;
  pins: string[];
}
const targets = JSON.parse(process.env["KP_TARGETS"] ?? "[]") as Target[];
const host = "api.keypin.test";

// What a run-time loader does: process.env changes after Node has read its start-up environment.
const runtime = JSON.parse(process.env["KP_RUNTIME_ENV"] ?? "{}") as Record<string, string | null>;
for (const [name, value] of Object.entries(runtime)) {
  if (value === null) delete process.env[name];
  else process.env[name] = value;
}
// What a deploy script does: the file NODE_EXTRA_CA_CERTS names gets another CA after the process started.
const append = JSON.parse(process.env["KP_APPEND_FILE"] ?? "null") as [string, string] | null;
if (append) appendFileSync(append[0], readFileSync(append[1], "utf8"));
const setDefault = process.env["KP_SET_DEFAULT_CA"];
if (setDefault) {
  (tls as unknown as { setDefaultCACertificates(certs: string[]): void }).setDefaultCACertificates([
    readFileSync(setDefault, "utf8"),
  ]);
}

const dersOf = (text: string): Uint8Array[] =>
  decodePem(text)
    .filter((block) => block.label === "CERTIFICATE")
    .map((block) => block.der);
const readDers = (path: string | undefined): Uint8Array[] => {
  try {
    return path ? dersOf(readFileSync(path, "utf8")) : [];
  } catch {
    return [];
  }
};
const bundled = tls.rootCertificates.flatMap(dersOf);
// Naive anchor sets, the controls: what a library reading process.env lazily, or every file of a directory, trusts.
const naiveEnv = [...bundled, ...readDers(process.env["NODE_EXTRA_CA_CERTS"])];
const naiveStore = [
  ...readDers(process.env["SSL_CERT_FILE"]),
  ...(process.env["SSL_CERT_DIR"] ?? "")
    .split(":")
    .filter((dir) => dir !== "")
    .flatMap((dir) => readdirSync(dir).flatMap((name) => readDers(join(dir, name)))),
];

const codeOf = (error: unknown): string =>
  keypinCodeOf(error) ?? (error as { cause?: { code?: string } }).cause?.code ?? String(error);

async function statusOf(dispatcher: Agent | ReturnType<typeof createPinnedDispatcher>, port: number) {
  try {
    const res = await fetch(`https://${host}:${port}/`, { dispatcher });
    await res.arrayBuffer();
    return res.status;
  } catch (error) {
    return codeOf(error);
  } finally {
    await dispatcher.close();
  }
}

const warnings: string[] = [];
const results: Record<string, Record<string, unknown>> = {};
for (const target of targets) {
  const result: Record<string, unknown> = {};
  result["unpinned"] = await statusOf(new Agent({ connect: { lookup: lookupLocal } }), target.port);
  const policy = { domains: { [host]: { pins: target.pins } } };
  const onWarning = (message: string) => warnings.push(message);
  result["pinned"] = await statusOf(
    createPinnedDispatcher({ policy, connect: { lookup: lookupLocal }, onWarning }),
    target.port,
  );
  const extraCa = process.env["KP_WITH_CA"];
  if (extraCa) {
    const withCa = createPinnedDispatcher({
      policy,
      ca: [readFileSync(extraCa, "utf8")],
      connect: { lookup: lookupLocal },
      onWarning,
    });
    result["pinnedWithCa"] = await statusOf(withCa, target.port);
  }
  const seen = await inspectTls({ host, port: target.port, connectHost: "127.0.0.1" });
  result["inspectTrusted"] = seen.trusted;
  result["inspectVerified"] = seen.verified?.length;
  const served = seen.served.map((c) => c.der);
  result["naiveEnvPath"] = buildVerifiedPath(served, naiveEnv)?.length;
  result["naiveStorePath"] = buildVerifiedPath(served, naiveStore)?.length;
  results[target.name] = result;
}
console.log(
  JSON.stringify({
    version: process.version,
    hasGetCACertificates: typeof (tls as { getCACertificates?: unknown }).getCACertificates === "function",
    results,
    warnings: [...new Set(warnings)],
  }),
);
