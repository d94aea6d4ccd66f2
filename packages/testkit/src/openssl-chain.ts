// The benchmarks' PKI: a root CA, an intermediate CA and a leaf, made with the openssl CLI (an outside tool, so the
// material does not depend on the code being measured), kept as files in one directory so later runs reuse them.
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openssl as runOpenssl } from "./openssl.js";

export type ChainKind = "rsa2048" | "p256";

export interface Chain {
  kind: ChainKind;
  dir: string;
  rootPem: string;
  intermediatePem: string;
  leafPem: string;
  leafKeyPem: string;
  /** DER of leaf, intermediate, root (the verified path, leaf first). */
  der: { leaf: Buffer; intermediate: Buffer; root: Buffer };
  /** Paths of the PEM files. */
  files: { root: string; intermediate: string; leaf: string; leafKey: string; served: string };
}

function openssl(args: string[], cwd: string): void {
  runOpenssl(args, undefined, { cwd });
}

function keyArgs(kind: ChainKind): string[] {
  return kind === "rsa2048"
    ? ["-newkey", "rsa:2048"]
    : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
}

function toDer(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

/** A new key `<name>.key` of `kind` and its CSR `<name>.csr` for `subject`, in `dir`. */
function newKeyAndCsr(dir: string, kind: ChainKind, name: string, subject: string): void {
  openssl(
    [
      "req",
      "-new",
      ...keyArgs(kind),
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ],
    dir,
  );
}

/**
 * Signs `csr` in `dir` with `<ca>.key` (certificate `caCert`, default `<ca>.pem`), 30 days, the `[extensions]`
 * section of `dir`/ext.cnf (written by makeChain), and a fixed `serial` or a fresh one.
 */
function signCsr(
  dir: string,
  o: { csr: string; ca: string; caCert?: string; out: string; extensions: "ca" | "leaf"; serial?: string },
): void {
  openssl(
    [
      "x509",
      "-req",
      "-in",
      o.csr,
      "-CA",
      o.caCert ?? `${o.ca}.pem`,
      "-CAkey",
      `${o.ca}.key`,
      ...(o.serial ? ["-set_serial", o.serial] : ["-CAcreateserial"]),
      "-out",
      o.out,
      "-days",
      "30",
      "-extfile",
      join(dir, "ext.cnf"),
      "-extensions",
      o.extensions,
    ],
    dir,
  );
}

/**
 * Makes root → intermediate → leaf in `dir` (which must exist). The leaf names `hosts` (DNS SANs,
 * wildcards allowed). Files: root.pem, intermediate.pem, leaf.pem, leaf.key, served.pem (leaf + intermediate).
 */
export function makeChain(dir: string, kind: ChainKind, hosts: string[]): Chain {
  const ext = join(dir, "ext.cnf");
  writeFileSync(
    ext,
    [
      "[ca]",
      "basicConstraints=critical,CA:TRUE",
      "keyUsage=critical,keyCertSign,cRLSign",
      "subjectKeyIdentifier=hash",
      "[leaf]",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature" + (kind === "rsa2048" ? ",keyEncipherment" : ""),
      "extendedKeyUsage=serverAuth",
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid",
      `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(",")}`,
      "",
    ].join("\n"),
  );
  openssl(
    [
      "req",
      "-x509",
      ...keyArgs(kind),
      "-nodes",
      "-keyout",
      "root.key",
      "-out",
      "root.pem",
      "-subj",
      `/CN=keypin bench root ${kind}/O=keypin bench`,
      "-days",
      "30",
      "-config",
      "/dev/null",
      "-addext",
      "subjectKeyIdentifier=hash",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  newKeyAndCsr(dir, kind, "intermediate", `/CN=keypin bench intermediate ${kind}/O=keypin bench`);
  signCsr(dir, { csr: "intermediate.csr", ca: "root", out: "intermediate.pem", extensions: "ca" });
  newKeyAndCsr(dir, kind, "leaf", `/CN=${hosts[0]}/O=keypin bench`);
  signCsr(dir, { csr: "leaf.csr", ca: "intermediate", out: "leaf.pem", extensions: "leaf" });
  writeFileSync(
    join(dir, "served.pem"),
    readFileSync(join(dir, "leaf.pem"), "utf8") + readFileSync(join(dir, "intermediate.pem"), "utf8"),
  );
  return loadChain(dir, kind);
}

/** Reads a chain made earlier by `makeChain` in `dir`. */
export function loadChain(dir: string, kind: ChainKind): Chain {
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  const rootPem = read("root.pem");
  const intermediatePem = read("intermediate.pem");
  const leafPem = read("leaf.pem");
  return {
    kind,
    dir,
    rootPem,
    intermediatePem,
    leafPem,
    leafKeyPem: read("leaf.key"),
    der: { leaf: toDer(leafPem), intermediate: toDer(intermediatePem), root: toDer(rootPem) },
    files: {
      root: join(dir, "root.pem"),
      intermediate: join(dir, "intermediate.pem"),
      leaf: join(dir, "leaf.pem"),
      leafKey: join(dir, "leaf.key"),
      served: join(dir, "served.pem"),
    },
  };
}

/**
 * `n` fresh (intermediate, leaf) pairs under the same root, made with the chain's own keys and CSRs but
 * new serial numbers: same keys and names, different bytes. A pin check that caches by exact bytes sees
 * each pair for the first time (a cold check).
 */
export function makeVariants(chain: Chain, n: number): { intermediate: Buffer; leaf: Buffer }[] {
  const out: { intermediate: Buffer; leaf: Buffer }[] = [];
  for (let i = 0; i < n; i++) {
    const serial = String(1000 + i);
    const intermediate = `variant-${i}-intermediate.pem`;
    signCsr(chain.dir, { csr: "intermediate.csr", ca: "root", out: intermediate, extensions: "ca", serial });
    signCsr(chain.dir, {
      csr: "leaf.csr",
      ca: "intermediate",
      caCert: intermediate,
      out: `variant-${i}-leaf.pem`,
      extensions: "leaf",
      serial,
    });
    out.push({
      intermediate: toDer(readFileSync(join(chain.dir, `variant-${i}-intermediate.pem`), "utf8")),
      leaf: toDer(readFileSync(join(chain.dir, `variant-${i}-leaf.pem`), "utf8")),
    });
  }
  return out;
}
