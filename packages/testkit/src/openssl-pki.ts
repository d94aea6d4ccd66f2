// Certificates made by the openssl command line, for tests that need encodings other libraries will not write:
// `openssl req`/`openssl x509 -req` with -extfile configs (raw `DER:` extension values), and `openssl asn1parse
// -genconf` for an exact tbsCertificate, signed with `openssl dgst -sign`. openssl is also the oracle: `verify`
// says whether OpenSSL accepts a chain, `pinOf` computes a pin the way the README says (x509 -pubkey | pkey | dgst).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openssl, opensslPinOfCertificateFile, opensslVerify, type Pin } from "./openssl.js";

/** A certificate made here: its PEM file, its key file, and both as text. */
export interface OpensslCert {
  name: string;
  pemFile: string;
  keyFile: string;
  pem: string;
  key: string;
  /** Subject as given (an `openssl req -subj` string, or the genconf description). */
  subject: string;
}

export type OpensslKeyKind = "p256" | "explicit-p256";

const CA_EXT = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"];

export class OpensslPki {
  readonly dir = mkdtempSync(join(tmpdir(), "keypin-openssl-"));
  #serial = 0x1000;

  run(args: string[], input?: string): string {
    return openssl(args, input, { cwd: this.dir }).toString("utf8");
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  /** A private key: a named P-256 key, or the same curve with explicit parameters (`-param_enc explicit`). */
  key(name: string, kind: OpensslKeyKind = "p256"): string {
    const out = this.file(`${name}.key`);
    if (kind === "p256")
      this.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", out]);
    else
      this.run([
        "ecparam",
        "-name",
        "prime256v1",
        "-param_enc",
        "explicit",
        "-genkey",
        "-noout",
        "-out",
        out,
      ]);
    return out;
  }

  /** A self-signed root CA (openssl req -x509). */
  root(name: string, subject: string): OpensslCert {
    const keyFile = this.key(name);
    const pemFile = this.file(`${name}.pem`);
    this.run([
      "req",
      "-x509",
      "-new",
      "-key",
      keyFile,
      "-subj",
      subject,
      "-days",
      "30",
      "-out",
      pemFile,
      ...CA_EXT.flatMap((ext) => ["-addext", ext]),
    ]);
    return this.#cert(name, pemFile, keyFile, subject);
  }

  /**
   * A certificate issued by `issuer` with `openssl req -new` + `openssl x509 -req -extfile`: `ext` are the
   * extfile's lines (`subjectAltName=DER:30…` writes exact bytes), `keyFile` an existing key (a same-key copy).
   */
  issue(
    name: string,
    options: {
      subject: string;
      issuer: OpensslCert;
      ext: string[];
      keyKind?: OpensslKeyKind;
      keyFile?: string;
    },
  ): OpensslCert {
    const keyFile = options.keyFile ?? this.key(name, options.keyKind);
    const csr = this.file(`${name}.csr`);
    const extFile = this.file(`${name}.ext`);
    const pemFile = this.file(`${name}.pem`);
    writeFileSync(extFile, `${options.ext.join("\n")}\n`);
    this.run(["req", "-new", "-key", keyFile, "-subj", options.subject, "-out", csr]);
    this.run([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      options.issuer.pemFile,
      "-CAkey",
      options.issuer.keyFile,
      "-set_serial",
      String(this.#serial++),
      "-days",
      "30",
      "-extfile",
      extFile,
      "-out",
      pemFile,
    ]);
    return this.#cert(name, pemFile, keyFile, options.subject);
  }

  /** A CA certificate (basicConstraints CA:TRUE, keyCertSign) issued by `issuer`. */
  ca(
    name: string,
    options: {
      subject: string;
      issuer: OpensslCert;
      keyKind?: OpensslKeyKind;
      keyFile?: string;
      ext?: string[];
    },
  ): OpensslCert {
    return this.issue(name, {
      ...options,
      ext: [...CA_EXT, "subjectKeyIdentifier=hash", ...(options.ext ?? [])],
    });
  }

  /**
   * A certificate whose tbsCertificate is exactly what `openssl asn1parse -genconf` makes of `sections` (an
   * ASN1_generate_nconf config: `[tbs]` is the tbsCertificate, `[sigalg]` must be ecdsa-with-SHA256), signed by
   * `signer`'s key with `openssl dgst -sha256 -sign`, and assembled by genconf too. `keyFile` is the subject key.
   */
  genconf(
    name: string,
    options: { sections: string; signer: OpensslCert; keyFile: string; subject: string },
  ): OpensslCert {
    const tbsConf = this.file(`${name}.tbs.cnf`);
    const tbsDer = this.file(`${name}.tbs.der`);
    const sig = this.file(`${name}.sig`);
    writeFileSync(tbsConf, `asn1=SEQUENCE:tbs\n${options.sections}`);
    this.run(["asn1parse", "-genconf", tbsConf, "-out", tbsDer, "-noout"]);
    this.run(["dgst", "-sha256", "-sign", options.signer.keyFile, "-out", sig, tbsDer]);
    const signature = readFileSync(sig).toString("hex");
    const certConf = this.file(`${name}.cert.cnf`);
    const certDer = this.file(`${name}.der`);
    writeFileSync(
      certConf,
      `asn1=SEQUENCE:cert\n[cert]\ntbs=SEQUENCE:tbs\nalg=SEQUENCE:sigalg\nsig=FORMAT:HEX,BITSTRING:${signature}\n${options.sections}`,
    );
    this.run(["asn1parse", "-genconf", certConf, "-out", certDer, "-noout"]);
    // PEM by hand: `openssl x509 -outform pem` would re-encode what it parsed.
    const base64 = readFileSync(certDer)
      .toString("base64")
      .replace(/.{1,64}/g, "$&\n");
    const pemFile = this.file(`${name}.pem`);
    writeFileSync(pemFile, `-----BEGIN CERTIFICATE-----\n${base64}-----END CERTIFICATE-----\n`);
    return this.#cert(name, pemFile, options.keyFile, options.subject);
  }

  /** The public key of a key file as genconf lines `[name]` (algorithm and BIT STRING) for a named P-256 key. */
  spkiSection(section: string, keyFile: string): string {
    const spki = openssl(["pkey", "-in", keyFile, "-pubout", "-outform", "der"], undefined, {
      cwd: this.dir,
    });
    const point = spki.subarray(spki.length - 65).toString("hex"); // uncompressed P-256 point, the SPKI's tail
    return [
      `[${section}]`,
      `alg=SEQUENCE:${section}_alg`,
      `key=FORMAT:HEX,BITSTRING:${point}`,
      `[${section}_alg]`,
      "oid=OID:id-ecPublicKey",
      "curve=OID:prime256v1",
      "",
    ].join("\n");
  }

  /** openssl's pin of a certificate: `x509 -pubkey | pkey -pubin -outform der | dgst -sha256 -binary | base64`. */
  pinOf(cert: OpensslCert): Pin {
    return opensslPinOfCertificateFile(cert.pemFile);
  }

  /** `openssl verify -CAfile root -untrusted <served after the leaf> leaf -purpose sslserver`: ok and the output. */
  verify(root: OpensslCert, leaf: OpensslCert, untrusted: OpensslCert[]): { ok: boolean; output: string } {
    let untrustedFile: string | undefined;
    if (untrusted.length > 0) {
      untrustedFile = this.file(`untrusted-${leaf.name}-${untrusted.map((c) => c.name).join("-")}.pem`);
      writeFileSync(untrustedFile, untrusted.map((c) => c.pem).join(""));
    }
    const { ok, output } = opensslVerify(leaf.pemFile, {
      caFile: root.pemFile,
      untrustedFile,
      purpose: "sslserver",
      cwd: this.dir,
    });
    return { ok, output };
  }

  /** `openssl x509 -noout <flag>` of a certificate (e.g. `-enddate`), trimmed. */
  print(cert: OpensslCert, flag: string): string {
    return this.run(["x509", "-in", cert.pemFile, "-noout", flag]).trim();
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #cert(name: string, pemFile: string, keyFile: string, subject: string): OpensslCert {
    return {
      name,
      pemFile,
      keyFile,
      pem: readFileSync(pemFile, "utf8"),
      key: readFileSync(keyFile, "utf8"),
      subject,
    };
  }
}

/** A DER byte string as the hex of one TLV (short or long length form). */
export function tlv(tag: number, valueHex: string): string {
  const length = valueHex.length / 2;
  const lengthHex =
    length < 0x80
      ? length.toString(16).padStart(2, "0")
      : (() => {
          const bytes = length.toString(16).padStart(length > 0xff ? 4 : 2, "0");
          return `${(0x80 + bytes.length / 2).toString(16)}${bytes}`;
        })();
  return `${tag.toString(16).padStart(2, "0")}${lengthHex}${valueHex}`;
}

/** Hex of an ASCII string. */
export function asciiHex(text: string): string {
  return Buffer.from(text, "latin1").toString("hex");
}
