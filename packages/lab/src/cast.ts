import { randomBytes } from "node:crypto";
import { computePin, type Pin } from "@keypin/core";
import { sha256 } from "@keypin/node";
import { LabBackend } from "./backend.js";
import {
  createIntermediateAuthority,
  createRootAuthority,
  generateLabKey,
  issueServerCertificate,
  type LabCertificate,
  type LabKey,
  spkiOf,
  spkiOfKey,
} from "./certificates.js";
import { createLabLookup, type LookupFunction } from "./lookup.js";
import { AttackerProxy } from "./proxy.js";

/**
 * The host name the app talks to. The lab resolves it to 127.0.0.1 itself; the real DNS is never asked.
 *
 * @example
 * const origin = `https://${labHost}:${backend.port}`;
 */
export const labHost = "api.myapp.com";

/**
 * The device's trust store: the lab's public root, plus the attacker's CA once a user "installs" it
 * (a configuration profile, a debugging proxy's certificate, a corporate tool).
 *
 * @example
 * const device = new DeviceTrustStore([labRoot]);
 * device.install(attackerCa);
 * createPinnedDispatcher({ policy, ca: device.pems(), caOnly: true });
 */
export class DeviceTrustStore {
  readonly #anchors = new Map<string, LabCertificate>();

  constructor(anchors: LabCertificate[]) {
    for (const anchor of anchors) this.install(anchor);
  }

  /** Adds a CA to the store (idempotent). */
  install(anchor: LabCertificate): void {
    this.#anchors.set(anchor.pem, anchor);
  }

  /** Removes a CA from the store. */
  remove(anchor: LabCertificate): void {
    this.#anchors.delete(anchor.pem);
  }

  /** Whether the store trusts exactly this certificate. */
  trusts(anchor: LabCertificate): boolean {
    return this.#anchors.has(anchor.pem);
  }

  /** The anchors' PEMs, for the `ca` option (with `caOnly: true`: the device trusts nothing else). */
  pems(): string[] {
    return [...this.#anchors.keys()];
  }

  /** The anchors' subjects. */
  subjects(): string[] {
    return [...this.#anchors.values()].map((anchor) => anchor.subject);
  }
}

/**
 * The pins of every key in the lab, each `sha256/<base64>` of the key's DER SubjectPublicKeyInfo.
 *
 * @example
 * const policy = { domains: { [cast.host]: { pins: [cast.pins.intermediate, cast.pins.backup] } } };
 */
export interface LabPins {
  /** The backend's current leaf key. */
  leaf: Pin;
  /** The lab public CA's intermediate key. */
  intermediate: Pin;
  /** The lab public CA's root key. */
  root: Pin;
  /** A spare key for the backend, generated now and kept "offline" until the rotation of scenario 6. */
  backup: Pin;
  /** The attacker's CA key (and, mitmproxy-style, of every leaf it forges). */
  attacker: Pin;
}

/**
 * Everyone in the lab, all on 127.0.0.1 with keys made for this run: the backend, the attacker's proxy,
 * the device's trust store, and the run's fake token.
 *
 * @example
 * const cast = await startCast();
 * try {
 *   console.log(cast.origin, cast.pins.leaf);
 * } finally {
 *   await cast.close();
 * }
 */
export interface LabCast {
  host: string;
  /** `https://api.myapp.com:<port>`. */
  origin: string;
  /** A bearer token made up for this run: showing it stolen is the point, so nothing real is ever used. */
  token: string;
  lookup: LookupFunction;
  root: LabCertificate;
  intermediate: LabCertificate;
  /** The backend's original leaf (the one it serves unless rotated). */
  leaf: LabCertificate;
  /** The spare key the backend rotates to in scenario 6. */
  backupKey: LabKey;
  /** The backend's certificate for the backup key, issued by the same intermediate. */
  rotatedLeaf: LabCertificate;
  attackerCa: LabCertificate;
  pins: LabPins;
  device: DeviceTrustStore;
  backend: LabBackend;
  proxy: AttackerProxy;
  /** Stops every server and drops every connection. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts the cast: makes the lab public CA (root → intermediate → leaf for api.myapp.com), a backup key,
 * the attacker's CA, then the backend and the proxy on 127.0.0.1.
 *
 * @example
 * const cast = await startCast();
 * await cast.close();
 */
export async function startCast(): Promise<LabCast> {
  const root = await createRootAuthority("CN=Lab Public Root CA, O=keypin lab public CA");
  const intermediate = await createIntermediateAuthority(root, "CN=Lab Public CA R1, O=keypin lab public CA");
  const leaf = await issueServerCertificate(intermediate, labHost, { organization: "My App" });
  const backupKey = await generateLabKey();
  const rotatedLeaf = await issueServerCertificate(intermediate, labHost, {
    organization: "My App",
    key: backupKey,
  });
  const attackerCa = await createRootAuthority("CN=Interceptor CA, O=Attacker's proxy");
  const token = `lab_fake_${randomBytes(12).toString("hex")}`;
  const lookup = createLabLookup({ [labHost]: "127.0.0.1" });
  const pins: LabPins = {
    leaf: computePin(spkiOf(leaf), sha256),
    intermediate: computePin(spkiOf(intermediate), sha256),
    root: computePin(spkiOf(root), sha256),
    backup: computePin(await spkiOfKey(backupKey), sha256),
    attacker: computePin(spkiOf(attackerCa), sha256),
  };
  const backend = await LabBackend.start({ leaf, intermediates: [intermediate], token });
  let proxy: AttackerProxy;
  try {
    // The attacker itself trusts the public CAs when it connects onward to the real server.
    proxy = await AttackerProxy.start({ ca: attackerCa, lookup, upstreamCa: [root.pem] });
  } catch (error) {
    await backend.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    host: labHost,
    origin: `https://${labHost}:${backend.port}`,
    token,
    lookup,
    root,
    intermediate,
    leaf,
    backupKey,
    rotatedLeaf,
    attackerCa,
    pins,
    device: new DeviceTrustStore([root]),
    backend,
    proxy,
    close() {
      closing ??= Promise.all([proxy.close(), backend.close()]).then(() => undefined);
      return closing;
    },
  };
}
