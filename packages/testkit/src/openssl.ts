// The openssl oracle: pins computed by the openssl command line exactly as the README and every pinning guide say
// (`openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`), and
// `openssl verify` as a TLS client verifies a server. Nothing here runs keypin's own code.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";

export type Pin = `sha256/${string}`;

/** The oracle's pipeline as one shell command line over the certificate file `$1` (for timing it whole). */
export const OPENSSL_PIN_PIPELINE =
  'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64';

/** Runs the openssl CLI (in `cwd`) and returns its stdout; throws with its stderr when it fails. */
export function openssl(
  args: readonly string[],
  input?: string | Uint8Array,
  options: { cwd?: string } = {},
): Buffer {
  const run = spawnSync("openssl", args, { input, cwd: options.cwd, maxBuffer: 16 * 1024 * 1024 });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${run.stderr.toString()}`);
  return run.stdout;
}

/** The openssl version line, e.g. "OpenSSL 3.0.17 1 Jul 2025". */
export function opensslVersion(): string {
  return openssl(["version"]).toString("utf8").trim();
}

/** The pin of a public key (PEM) by `openssl pkey -pubin -outform der | openssl dgst -sha256 -binary`. */
export function opensslPinOfPublicKey(publicKeyPem: string | Uint8Array): Pin {
  const der = openssl(["pkey", "-pubin", "-outform", "der"], publicKeyPem);
  const digest = openssl(["dgst", "-sha256", "-binary"], der);
  if (digest.length !== 32) throw new Error(`openssl dgst -sha256 printed ${digest.length} bytes, not 32`);
  return `sha256/${digest.toString("base64")}`;
}

/** The pin of a certificate (PEM): `openssl x509 -pubkey -noout`, then the public-key pipeline. */
export function opensslPinOfCertificate(certPem: string | Uint8Array): Pin {
  return opensslPinOfPublicKey(openssl(["x509", "-pubkey", "-noout"], certPem));
}

/** The pin of the certificate in a PEM file (`openssl x509 -in <file> -pubkey -noout | …`). */
export function opensslPinOfCertificateFile(certFile: string): Pin {
  return opensslPinOfPublicKey(openssl(["x509", "-in", certFile, "-pubkey", "-noout"]));
}

/** The pin of a public-key file, PEM (`openssl pkey -pubin -in <file> | …`). */
export function opensslPinOfPublicKeyFile(keyFile: string): Pin {
  return opensslPinOfPublicKey(openssl(["pkey", "-pubin", "-in", keyFile]));
}

/** The pin of the key a CSR file (PEM) asks to certify (`openssl req -in <file> -pubkey -noout | …`). */
export function opensslPinOfCsrFile(csrFile: string): Pin {
  return opensslPinOfPublicKey(openssl(["req", "-in", csrFile, "-pubkey", "-noout"]));
}

/** sha256/base64 of bytes (an SPKI's DER), for comparing with what openssl said: not an oracle. */
export function pinOfDer(spkiDer: Uint8Array): Pin {
  return `sha256/${createHash("sha256").update(spkiDer).digest("base64")}`;
}

export interface OpensslVerifyOptions {
  /** The trust anchors (PEM file). */
  caFile: string;
  /** Certificates served after the leaf (PEM file). */
  untrustedFile?: string | undefined;
  /** `-purpose`, e.g. "sslserver" (what a TLS client checks). */
  purpose?: string;
  /** Verify at this time instead of now (`-attime`). */
  at?: Date;
  /** More arguments, before the certificate (e.g. `-auth_level 1`, `-show_chain`). */
  args?: readonly string[];
  cwd?: string;
}

export interface OpensslVerifyResult {
  /** openssl exited 0 and printed `<file>: OK`. */
  ok: boolean;
  /** stdout then stderr, trimmed. */
  output: string;
  /** The lines `depth=N: …` it printed (with `-show_chain`: the chain it built, leaf first). */
  depthLines: number;
  /** The number in its first "error N at D depth lookup" line, -1 when it refused without one. */
  error: number | undefined;
}

/** `openssl verify [-purpose] [-attime] -CAfile … [-untrusted …] <certFile>`. */
export function opensslVerify(certFile: string, options: OpensslVerifyOptions): OpensslVerifyResult {
  const args = ["verify"];
  if (options.at) args.push("-attime", String(Math.floor(options.at.getTime() / 1000)));
  if (options.purpose) args.push("-purpose", options.purpose);
  args.push(...(options.args ?? []), "-CAfile", options.caFile);
  if (options.untrustedFile) args.push("-untrusted", options.untrustedFile);
  const run = spawnSync("openssl", [...args, certFile], { cwd: options.cwd, encoding: "utf8" });
  if (run.error) throw run.error;
  const ok = run.status === 0 && /: OK$/m.test(run.stdout);
  const output = `${run.stdout}${run.stderr}`;
  return {
    ok,
    output: output.trim(),
    depthLines: run.stdout.split("\n").filter((line) => /^depth=\d+:/.test(line)).length,
    error: ok ? undefined : Number(/error (\d+) at \d+ depth/.exec(output)?.[1] ?? -1),
  };
}

/** Key algorithms the tests make with `openssl genpkey`. */
export type GenpkeyKind = "rsa-2048" | "ec-p256" | "ec-p384" | "ec-p521" | "ed25519" | "ed448";

/** `openssl genpkey` arguments for a key of `kind`. */
export function genpkeyArgs(kind: GenpkeyKind): string[] {
  switch (kind) {
    case "rsa-2048":
      return ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    case "ec-p256":
      return ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    case "ec-p384":
      return ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"];
    case "ec-p521":
      return ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"];
    case "ed25519":
      return ["-algorithm", "ED25519"];
    case "ed448":
      return ["-algorithm", "ED448"];
  }
}
