// Shared by the @keypin/export tests: the golden policies, and certificates made with the openssl CLI.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Policy } from "@keypin/core";
import { parsePolicy } from "@keypin/core";

export const goldenDir = new URL("./golden/", import.meta.url);
export const repoRoot = new URL("../../../", import.meta.url).pathname;

/** A golden policy file, parsed as the CLI would. */
export function goldenPolicy(name: "keypin.json" | "keypin.rich.json"): Policy {
  return parsePolicy(JSON.parse(readFileSync(new URL(name, goldenDir), "utf8"))).policy;
}

export function tempDir(prefix: string): { path: string; [Symbol.dispose](): void } {
  const path = mkdtempSync(join(tmpdir(), `keypin-${prefix}-`));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TestPki {
  caPem: string;
  leafPem: string;
  leafKeyPem: string;
  /** sha256/… pins computed by openssl from each certificate's public key. */
  caPin: string;
  leafPin: string;
  /** A pin of a key that is in no chain. */
  otherPin: string;
  caPath: string;
}

/** The pin of a certificate's key, by openssl (the oracle: x509 -pubkey | pkey -outform der | dgst -sha256). */
function opensslPin(certPath: string): string {
  const pub = execFileSync("openssl", ["x509", "-in", certPath, "-pubkey", "-noout"]);
  const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "der"], { input: pub });
  const digest = execFileSync("openssl", ["dgst", "-sha256", "-binary"], { input: der });
  return `sha256/${digest.toString("base64")}`;
}

/** A CA and a leaf for `hosts` (DNS names), signed by the CA, made with the openssl CLI in `dir`. */
export function makePki(dir: string, hosts: string[]): TestPki {
  const run = (args: string[]) =>
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  run([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "30",
    "-subj",
    "/CN=keypin export test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  run([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "leaf.key",
    "-out",
    "leaf.csr",
    "-subj",
    `/CN=${hosts[0]}`,
  ]);
  writeFileSync(
    join(dir, "leaf.ext"),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${hosts.map((h) => `DNS:${h}`).join(",")}\n`,
  );
  run([
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "leaf.pem",
    "-days",
    "30",
    "-extfile",
    "leaf.ext",
  ]);
  run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key"]);
  run(["req", "-x509", "-key", "other.key", "-out", "other.pem", "-days", "30", "-subj", "/CN=unrelated"]);
  return {
    caPem: readFileSync(join(dir, "ca.pem"), "utf8"),
    leafPem: readFileSync(join(dir, "leaf.pem"), "utf8"),
    leafKeyPem: readFileSync(join(dir, "leaf.key"), "utf8"),
    caPin: opensslPin(join(dir, "ca.pem")),
    leafPin: opensslPin(join(dir, "leaf.pem")),
    otherPin: opensslPin(join(dir, "other.pem")),
    caPath: join(dir, "ca.pem"),
  };
}
