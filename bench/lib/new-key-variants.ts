// Chains whose intermediate has a key this process has never seen: a new intermediate key and certificate under
// the chain's root, and the chain's leaf key re-certified by it, all with the openssl CLI (ext.cnf from makeChain).
// The cold check of target 9 is measured on these too: keypin imports each issuer key once per SPKI, so a chain
// with a new intermediate *key* costs an import that a renewed certificate of a known key does not.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Chain, openssl } from "@keypin/testkit";

export function makeNewKeyVariants(chain: Chain, n: number): { intermediate: Buffer; leaf: Buffer }[] {
  const run = (args: string[]) => openssl(args, undefined, { cwd: chain.dir });
  const keyArgs =
    chain.kind === "rsa2048"
      ? ["-newkey", "rsa:2048"]
      : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  const der = (file: string) => Buffer.from(new X509Certificate(readFileSync(join(chain.dir, file))).raw);
  const out: { intermediate: Buffer; leaf: Buffer }[] = [];
  for (let i = 0; i < n; i++) {
    const name = `new-key-${i}`;
    const subject = `/CN=keypin bench intermediate ${chain.kind} ${i}/O=keypin bench`;
    run([
      "req",
      "-new",
      ...keyArgs,
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ]);
    const sign = (csr: string, ca: string, caKey: string, file: string, extensions: string) =>
      run([
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca,
        "-CAkey",
        caKey,
        "-set_serial",
        String(5000 + i),
        "-out",
        file,
        "-days",
        "30",
        "-extfile",
        "ext.cnf",
        "-extensions",
        extensions,
      ]);
    sign(`${name}.csr`, "root.pem", "root.key", `${name}.pem`, "ca");
    sign("leaf.csr", `${name}.pem`, `${name}.key`, `${name}-leaf.pem`, "leaf");
    out.push({ intermediate: der(`${name}.pem`), leaf: der(`${name}-leaf.pem`) });
  }
  return out;
}
