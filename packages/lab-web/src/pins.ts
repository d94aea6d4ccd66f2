// The pins of a run's `extract-pin` steps, each with the openssl pipeline that recomputes it from the PEM file
// the server wrote: nobody has to take the lab's word for a pin.
import type { Pin } from "@keypin/core";
import type { LabWebRun } from "./run.js";

/** One pin of one `extract-pin` step, as GET /api/runs/:id/pins lists it. */
export interface PinListing {
  scenario: number | null;
  /** The `extract-pin` event's SSE id. */
  seq: number;
  pin: Pin;
  subject: string;
  /** The absolute path of the certificate's PEM in the run's folder. */
  file: string;
  /** A POSIX shell command that prints exactly `pin` (`sha256/` and the base64 SHA-256 of the DER SPKI). */
  command: string;
}

/** Quotes an argument for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The openssl pipeline that prints a certificate file's pin: its public key (SubjectPublicKeyInfo) as DER,
 * hashed with SHA-256, in base64, after `sha256/`.
 *
 * @example
 * opensslPinCommand("/tmp/api.pem");
 * // echo "sha256/$(openssl x509 -in /tmp/api.pem -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | openssl base64 -A)"
 */
export function opensslPinCommand(file: string): string {
  return `echo "sha256/$(openssl x509 -in ${shellQuote(file)} -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | openssl base64 -A)"`;
}

/** Every certificate of every `extract-pin` step of the run, in order, with its file and command. */
export function listPins(run: LabWebRun): PinListing[] {
  return run.pins.map((p) => ({
    scenario: p.scenario,
    seq: p.seq,
    pin: p.pin,
    subject: p.subject,
    file: p.certificate.path,
    command: opensslPinCommand(p.certificate.path),
  }));
}
