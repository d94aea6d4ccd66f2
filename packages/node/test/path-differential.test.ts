// The path builder against `openssl verify` on generated chain graphs (issue 12, class 1). Each graph has trust
// anchors, CA certificates that may be expired, not yet valid, not CAs, without keyCertSign, with a pathLen, name
// constraints, an EKU without serverAuth, an unknown critical extension, shared names and keys (cross-signs,
// look-alikes), cycles, and a served list in random order with duplicates. Two properties:
// - soundness: whenever keypin returns a path, openssl accepts exactly that path (same anchor, same certificates)
//   at the same time, for a TLS server (-purpose sslserver), at Node's default security level (-auth_level 1);
// - completeness: whenever openssl accepts the leaf with all served certificates and all anchors, keypin finds a
//   path too, except for graphs that use a legacy allowance keypin refuses on purpose (a CA without
//   basicConstraints), which are counted.
// KEYPIN_PATH_SEED=<n> replays a run; KEYPIN_PATH_GRAPHS=<n> runs more graphs (default 2,000).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseCertificate } from "@keypin/core";
import {
  buildCertificate,
  type DerCertSpec,
  type DerKey,
  makeKey,
  opensslVerify,
  seededRandom,
  toPem,
} from "@keypin/testkit";
import { HopCache, searchVerifiedPath } from "../src/verified-path.js";

const GRAPHS = Number(process.env["KEYPIN_PATH_GRAPHS"] ?? 2000);
const SEED = Number(process.env["KEYPIN_PATH_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
const NOW = new Date("2026-06-01T12:00:00Z");
const DAY = 86_400_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

const dir = mkdtempSync(join(tmpdir(), "keypin-path-diff-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const KEYS: DerKey[] = Array.from({ length: 8 }, makeKey);
const NAMES = ["Root A", "Root B", "Int X", "Int Y", "Int Z"];

interface Graph {
  anchors: Uint8Array[];
  served: Uint8Array[];
  /** Some certificate relies on OpenSSL's allowance for a CA without basicConstraints. */
  legacyCa: boolean;
  describe: string[];
}

function makeGraph(random: () => number): Graph {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const chance = (p: number) => random() < p;
  let serial = 1;
  const describe: string[] = [];
  let legacyCa = false;
  // Entities: a name and a key; collisions in either are part of the test.
  const entityCount = 2 + Math.floor(random() * 4);
  const entities = Array.from({ length: entityCount }, (_, i) => ({
    name: i < 2 ? NAMES[i]! : pick(NAMES),
    key: chance(0.2) ? pick(KEYS) : KEYS[i % KEYS.length]!,
  }));
  const validity = (): { notBefore: Date; notAfter: Date; note: string } => {
    const r = random();
    if (r < 0.06)
      return {
        notBefore: new Date(NOW.getTime() - 400 * DAY),
        notAfter: new Date(NOW.getTime() - DAY),
        note: "expired",
      };
    if (r < 0.11)
      return {
        notBefore: new Date(NOW.getTime() + DAY),
        notAfter: new Date(NOW.getTime() + 400 * DAY),
        note: "not-yet",
      };
    return {
      notBefore: new Date(NOW.getTime() - 30 * DAY),
      notAfter: new Date(NOW.getTime() + 300 * DAY),
      note: "",
    };
  };
  const caFlags = (): Partial<DerCertSpec> & { note: string } => {
    const flags: Partial<DerCertSpec> & { note: string } = { note: "" };
    const bc = random();
    if (bc < 0.88) flags.basicConstraints = { ca: true };
    else if (bc < 0.94) {
      flags.basicConstraints = { ca: false };
      flags.note += " not-ca";
    } else flags.note += " no-bc";
    if (flags.basicConstraints?.ca && chance(0.2)) {
      flags.basicConstraints.pathLen = chance(0.5) ? 0 : 1;
      flags.note += ` pathlen${flags.basicConstraints.pathLen}`;
    }
    const ku = random();
    if (ku < 0.5) flags.keyUsage = ["keyCertSign", "cRLSign"];
    else if (ku < 0.58) {
      flags.keyUsage = ["digitalSignature"];
      flags.note += " ku-no-certsign";
    } else if (ku < 0.62) {
      // keyCertSign (bit 5) inside the padding: three unused bits cover bits 5–7
      flags.keyUsage = ["digitalSignature", "keyCertSign"];
      flags.keyUsageUnusedBits = 3;
      flags.note += " ku-certsign-in-padding";
    }
    if (!flags.basicConstraints && flags.keyUsage?.includes("keyCertSign") && !flags.keyUsageUnusedBits)
      legacyCa = true;
    const eku = random();
    if (eku < 0.05) {
      flags.extKeyUsage = [CLIENT_AUTH];
      flags.note += " eku-client";
    } else if (eku < 0.13) flags.extKeyUsage = [SERVER_AUTH];
    if (chance(0.08)) {
      flags.nameConstraints = pick([
        { permitted: ["leaf.test"] },
        { permitted: ["other.test"] },
        { excluded: ["leaf.test"] },
        { permitted: [".test"] },
      ]);
      flags.note += ` nc:${JSON.stringify(flags.nameConstraints)}`;
    }
    if (chance(0.3)) {
      flags.subjectKeyId = false;
      flags.authorityKeyId = false;
      flags.note += " no-keyids";
    }
    if (chance(0.03)) {
      flags.unknownCritical = true;
      flags.note += " unknown-critical";
    }
    return flags;
  };
  const certify = (
    subject: { name: string; key: DerKey },
    issuer: { name: string; key: DerKey },
    extra: Partial<DerCertSpec>,
  ) => {
    const v = validity();
    const spec: DerCertSpec = {
      serial: serial++,
      subject: subject.name,
      issuer: issuer.name,
      key: subject.key,
      signer: issuer.key,
      notBefore: v.notBefore,
      notAfter: v.notAfter,
      ...extra,
    };
    return { der: buildCertificate(spec), note: v.note };
  };

  // Anchors: the first one or two entities, self-signed (sometimes version 1, sometimes expired).
  const anchors: Uint8Array[] = [];
  const anchorCount = chance(0.3) ? 2 : 1;
  for (let i = 0; i < anchorCount; i++) {
    const entity = entities[i]!;
    const v1 = chance(0.1);
    const { note, ...flags } = v1 ? { note: " v1" } : caFlags();
    const cert = certify(entity, entity, v1 ? { v1: true } : flags);
    anchors.push(cert.der);
    describe.push(`anchor ${entity.name}${cert.note}${note}`);
  }
  // CA certificates: each non-anchor entity issued by a random entity (itself, a later one: cycles), and sometimes a
  // second certificate for the same entity by another issuer (a cross-sign), or for an anchor entity (a cross-signed
  // root).
  const intermediates: Uint8Array[] = [];
  const certCount = entityCount - anchorCount + Math.floor(random() * 3);
  for (let i = 0; i < certCount; i++) {
    const subject = i < entityCount - anchorCount ? entities[anchorCount + i]! : pick(entities);
    // Mostly an entity listed before it (towards the anchors), sometimes any (later ones make cycles).
    const at = i < entityCount - anchorCount ? anchorCount + i : entities.indexOf(subject);
    const issuer = at > 0 && chance(0.75) ? pick(entities.slice(0, at)) : pick(entities);
    const { note, ...flags } = caFlags();
    const cert = certify(subject, issuer, flags);
    intermediates.push(cert.der);
    describe.push(`ca ${subject.name} by ${issuer.name}${cert.note}${note}`);
  }
  // The leaf.
  const leafIssuer = pick(
    entities.length > anchorCount && chance(0.8) ? entities.slice(anchorCount) : entities,
  );
  const leafFlags: Partial<DerCertSpec> = {
    dns: ["leaf.test"],
    basicConstraints: chance(0.5) ? { ca: false } : undefined,
  };
  let leafNote = "";
  if (chance(0.05)) {
    leafFlags.extKeyUsage = [CLIENT_AUTH];
    leafNote += " eku-client";
  } else if (chance(0.5)) leafFlags.extKeyUsage = [SERVER_AUTH];
  if (chance(0.04)) {
    leafFlags.keyUsage = ["keyCertSign"];
    leafNote += " ku-certsign-only";
  } else if (chance(0.4)) leafFlags.keyUsage = ["digitalSignature"];
  const leafSubject = chance(0.1) ? "" : "leaf.test";
  const leaf = certify({ name: leafSubject, key: pick(KEYS) }, leafIssuer, leafFlags);
  describe.unshift(`leaf "${leafSubject}" by ${leafIssuer.name}${leaf.note}${leafNote}`);

  // Served: the leaf, then a random selection of the CA certificates (sometimes an anchor, sometimes twice), shuffled.
  const pool = [...intermediates, ...(chance(0.2) ? [pick(anchors)] : [])];
  const served = pool.filter(() => chance(0.85));
  if (chance(0.1) && served.length > 0) served.push(pick(served));
  for (let i = served.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [served[i], served[j]] = [served[j]!, served[i]!];
  }
  return { anchors, served: [leaf.der, ...served], legacyCa, describe };
}

/**
 * `openssl verify` at NOW as a TLS client verifies a server: the chain length it printed, or its error number
 * (`{ error }`) when it refuses.
 */
async function verifyWithOpenssl(
  name: string,
  leaf: Uint8Array,
  untrusted: Uint8Array[],
  anchors: Uint8Array[],
): Promise<number | { error: number }> {
  const base = join(dir, name);
  writeFileSync(`${base}-leaf.pem`, toPem(leaf));
  writeFileSync(`${base}-ca.pem`, toPem(...anchors));
  let untrustedFile: string | undefined;
  if (untrusted.length > 0) {
    untrustedFile = `${base}-untrusted.pem`;
    writeFileSync(untrustedFile, toPem(...untrusted));
  }
  const verdict = opensslVerify(`${base}-leaf.pem`, {
    caFile: `${base}-ca.pem`,
    untrustedFile,
    at: NOW,
    purpose: "sslserver",
    args: ["-auth_level", "1", "-show_chain"],
  });
  // openssl names the first error when it refuses the chain: "error 7 at 0 depth lookup: …"
  return verdict.ok ? verdict.depthLines : { error: verdict.error ?? -1 };
}

const describeName = (der: Uint8Array) => parseCertificate(der).names.subject;
const issuerName = (der: Uint8Array) => parseCertificate(der).names.issuer;

test(`the path builder agrees with openssl verify on ${GRAPHS} generated chain graphs (seed ${SEED})`, {
  timeout: 600_000,
}, async () => {
  const random = seededRandom(SEED);
  const stats = { found: 0, opensslAccepted: 0, bothRefused: 0, legacyOnly: 0, budget: 0, greedy: 0 };
  const failures: string[] = [];
  const graphs = Array.from({ length: GRAPHS }, () => makeGraph(random));
  const checkOne = async (graph: Graph, index: number): Promise<void> => {
    const search = searchVerifiedPath(graph.served, graph.anchors, { now: NOW, hopCache: new HopCache() });
    const where = () => `graph ${index} (KEYPIN_PATH_SEED=${SEED}):\n    ${graph.describe.join("\n    ")}`;
    const [leaf, ...rest] = graph.served;
    const all = await verifyWithOpenssl(`g${index}-all`, leaf!, rest, graph.anchors);
    const accepted = typeof all === "number";
    if (accepted) stats.opensslAccepted++;
    if (search.found) {
      stats.found++;
      const path = search.path;
      const exact = await verifyWithOpenssl(`g${index}-path`, path[0]!, path.slice(1, -1), [
        path[path.length - 1]!,
      ]);
      if (exact === path.length) return;
      // OpenSSL takes a trusted certificate with the right name as the issuer before any other and does not try
      // another when its signature fails (error 7). When the anchor shares its name with an earlier hop's issuer,
      // openssl cannot be shown keypin's exact path; such a chain is refused in a handshake too (all != number),
      // so keypin never sees it. Anything else is a disagreement.
      const anchorName = describeName(path[path.length - 1]!);
      const greedy =
        typeof exact !== "number" &&
        exact.error === 7 &&
        !accepted &&
        path.slice(0, -2).some((der) => issuerName(der) === anchorName);
      if (greedy) stats.greedy++;
      else
        failures.push(
          `keypin returned a path of ${path.length} that openssl ${typeof exact === "number" ? `builds as ${exact}` : `refuses (error ${exact.error})`}: ${where()}`,
        );
    } else if (search.reason === "budget") stats.budget++;
    else if (accepted) {
      if (graph.legacyCa) stats.legacyOnly++;
      else
        failures.push(
          `openssl accepts a chain of ${all} where keypin found none (${search.reason}): ${where()}`,
        );
    } else stats.bothRefused++;
  };
  for (let i = 0; i < graphs.length; i += 4) {
    await Promise.all(graphs.slice(i, i + 4).map((graph, k) => checkOne(graph, i + k)));
  }
  console.log(`path differential (seed ${SEED}): ${JSON.stringify(stats)}`);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} disagreement(s)`);
  // The generator must exercise both outcomes, or the test proves little.
  assert.ok(stats.found > GRAPHS / 10, `only ${stats.found} graphs had a path`);
  assert.ok(stats.bothRefused > GRAPHS / 10, `only ${stats.bothRefused} graphs had none`);
});
