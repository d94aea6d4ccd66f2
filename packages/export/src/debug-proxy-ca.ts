import { isKeypinError, readKeyMaterial } from "@keypin/core";
import { ExportOptionError } from "./errors.js";

const expected =
  "the debug proxy CA must be only the proxy's CA certificate, PEM or DER (mitmproxy: mitmproxy-ca-cert.pem; Charles: Help > SSL Proxying > Save Charles Root Certificate)";

/**
 * Checks the file given as a debugging proxy's CA (`debugProxyCa`) before it is copied into an Android app's
 * res/raw: it must hold certificates only, at least one of them a CA. A private key is refused outright: res/raw
 * ships in every build, release included, so anyone who unpacks the app would get the key of a CA that the
 * developer's devices trust (mitmproxy's `mitmproxy-ca.pem` holds key and certificate together; its
 * `mitmproxy-ca-cert.pem` is the certificate alone). `name` is how the message names the file.
 * Throws {@link ExportOptionError} (code `ERR_KEYPIN_EXPORT_OPTION`) with one line saying what to give instead.
 *
 * @example
 * ```ts
 * checkDebugProxyCa(readFileSync("mitmproxy-ca-cert.pem"), "mitmproxy-ca-cert.pem"); // fine
 * checkDebugProxyCa(readFileSync("mitmproxy-ca.pem"), "mitmproxy-ca.pem"); // throws: holds a private key
 * ```
 */
export function checkDebugProxyCa(bytes: Uint8Array, name: string): void {
  let material: ReturnType<typeof readKeyMaterial>;
  try {
    material = readKeyMaterial(bytes);
  } catch (error) {
    if (!isKeypinError(error)) throw error;
    throw new ExportOptionError(`${name}: ${error.message}; ${expected}`);
  }
  if (material.some((m) => m.kind === "private-key")) {
    throw new ExportOptionError(
      `${name} holds a private key, which must never be copied into an app (res/raw ships in release builds too); ${expected}`,
    );
  }
  const other = material.find((m) => m.kind !== "certificate");
  if (other) {
    const what = other.kind === "csr" ? "certificate request (CSR)" : "public key";
    throw new ExportOptionError(`${name} holds a ${what}, not only certificates; ${expected}`);
  }
  if (!material.some((m) => m.kind === "certificate" && m.certificate.isCA)) {
    throw new ExportOptionError(
      `${name} holds no CA certificate (basicConstraints cA is not set: a certificate a proxy made for one host?); ${expected}`,
    );
  }
}
