import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type GenpkeyKind,
  generateKeyFile,
  hasStack,
  makeTempDir,
  openssl,
  opensslPinOfCertificate,
  opensslPinOfPublicKey,
  runCli,
} from "@keypin/testkit";

const kinds: GenpkeyKind[] = ["rsa-2048", "ec-p256", "ec-p384", "ec-p521", "ed25519", "ed448"];
const keyTypes: Record<GenpkeyKind, string> = {
  "rsa-2048": "RSA-2048",
  "ec-p256": "EC-P256",
  "ec-p384": "EC-P384",
  "ec-p521": "EC-P521",
  ed25519: "Ed25519",
  ed448: "Ed448",
};

interface Material {
  kind: GenpkeyKind;
  /** The openssl oracle's pin of this key. */
  pin: string;
  files: Record<string, string>;
}

/** Encrypts a material's PKCS#8 key into `to` with openssl (`passout` as openssl takes it; `options` choose the cipher). */
function encryptPkcs8(material: Material, to: string, passout: string, ...options: string[]): void {
  const from = material.files["private key PEM (PKCS#8)"]!;
  openssl(["pkcs8", "-topk8", "-in", from, ...options, "-passout", passout, "-out", to]);
}

interface HashJson {
  file: string;
  index: number;
  kind: string;
  subject?: string;
  keyType: string;
  pin: string;
}

describe("keypin hash", () => {
  const tmp = makeTempDir();
  const materials: Material[] = [];
  let bundle = "";

  before(() => {
    for (const kind of kinds) {
      const d = (name: string) => join(tmp.dir, `${kind}-${name}`);
      const key = generateKeyFile(d("key.pem"), kind);
      const pub = d("pub.pem");
      openssl(["pkey", "-in", key, "-pubout", "-out", pub]);
      openssl(["pkey", "-in", key, "-pubout", "-outform", "der", "-out", d("pub.der")]);
      openssl(["pkey", "-in", key, "-outform", "der", "-out", d("key.der")]);
      openssl([
        "req",
        "-x509",
        "-new",
        "-key",
        key,
        "-subj",
        `/CN=${kind}.test/O=Hash Test`,
        "-days",
        "30",
        "-out",
        d("cert.pem"),
      ]);
      openssl(["x509", "-in", d("cert.pem"), "-outform", "der", "-out", d("cert.der")]);
      openssl(["req", "-new", "-key", key, "-subj", `/CN=${kind}.csr`, "-out", d("csr.pem")]);
      openssl(["req", "-in", d("csr.pem"), "-outform", "der", "-out", d("csr.der")]);
      const files: Record<string, string> = {
        "cert PEM": d("cert.pem"),
        "cert DER": d("cert.der"),
        "public key PEM": pub,
        "public key DER": d("pub.der"),
        "private key PEM (PKCS#8)": key,
        "private key DER (PKCS#8)": d("key.der"),
        "CSR PEM": d("csr.pem"),
        "CSR DER": d("csr.der"),
      };
      if (kind === "rsa-2048") {
        openssl(["rsa", "-in", key, "-traditional", "-out", d("key-pkcs1.pem")]);
        files["private key PEM (PKCS#1)"] = d("key-pkcs1.pem");
      }
      if (kind.startsWith("ec-")) {
        openssl(["ec", "-in", key, "-out", d("key-sec1.pem")]);
        files["private key PEM (SEC1)"] = d("key-sec1.pem");
      }
      const pin = opensslPinOfPublicKey(readFileSync(pub));
      assert.equal(opensslPinOfCertificate(readFileSync(d("cert.pem"))), pin);
      materials.push({ kind, pin, files });
      bundle += readFileSync(d("cert.pem"), "utf8");
    }
    writeFileSync(join(tmp.dir, "bundle.pem"), bundle);
  });

  after(() => tmp.remove());

  it("agrees with openssl for every key type and every input kind", async () => {
    const files = materials.flatMap((m) => Object.values(m.files));
    const result = await runCli(["hash", "--json", ...files]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    const entries = JSON.parse(result.stdout) as HashJson[];
    assert.equal(entries.length, files.length);
    for (const material of materials) {
      for (const [label, file] of Object.entries(material.files)) {
        const entry = entries.find((e) => e.file === file);
        assert.ok(entry, `no entry for ${label} of ${material.kind}`);
        assert.equal(entry.pin, material.pin, `${label} of ${material.kind}`);
        assert.equal(entry.keyType, keyTypes[material.kind], `${label} of ${material.kind}`);
        const expectedKind = label.startsWith("cert")
          ? "certificate"
          : label.startsWith("public")
            ? "public-key"
            : label.startsWith("private")
              ? "private-key"
              : "csr";
        assert.equal(entry.kind, expectedKind, `${label} of ${material.kind}`);
      }
    }
  });

  it("gives one entry per certificate of a PEM bundle, in order, with subjects", async () => {
    const result = await runCli(["hash", "--json", join(tmp.dir, "bundle.pem")]);
    assert.equal(result.code, 0, result.stderr);
    const entries = JSON.parse(result.stdout) as HashJson[];
    assert.deepEqual(
      entries.map((e) => [e.index, e.kind, e.pin]),
      materials.map((m, i) => [i, "certificate", m.pin]),
    );
    assert.match(entries[0]!.subject ?? "", /CN=rsa-2048\.test/);
  });

  it("reads stdin for - and reports the file as -", async () => {
    const result = await runCli(["hash", "--json", "-"], { input: bundle });
    assert.equal(result.code, 0, result.stderr);
    const entries = JSON.parse(result.stdout) as HashJson[];
    assert.equal(entries.length, materials.length);
    assert.ok(entries.every((e) => e.file === "-"));
    assert.deepEqual(
      entries.map((e) => e.pin),
      materials.map((m) => m.pin),
    );
  });

  it("prints aligned human output with the pins openssl computes", async () => {
    const ec = materials.find((m) => m.kind === "ec-p256")!;
    const result = await runCli(["hash", ec.files["cert PEM"]!, ec.files["CSR PEM"]!]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 2);
    assert.ok(lines.every((line) => line.includes(ec.pin)));
    assert.equal(lines[0]!.indexOf(ec.pin), lines[1]!.indexOf(ec.pin), "pin columns align");
    assert.doesNotMatch(
      result.stdout,
      /\u001b\[/,
      "no color codes when NO_COLOR is set and stdout is a pipe",
    );
  });

  it("hashes an encrypted private key only with --passphrase-file, and says so without it", async () => {
    const ec = materials.find((m) => m.kind === "ec-p384")!;
    const encrypted = join(tmp.dir, "encrypted.pem");
    const passFile = join(tmp.dir, "pass.txt");
    writeFileSync(passFile, "correct horse\n");
    encryptPkcs8(ec, encrypted, `file:${passFile}`, "-v2", "aes-256-cbc");
    const refused = await runCli(["hash", encrypted]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, "");
    assert.match(refused.stderr, /^keypin: .*encrypted\.pem.*encrypted private key.*--passphrase-file/);
    assert.equal(refused.stderr.trimEnd().split("\n").length, 1);
    const accepted = await runCli(["hash", "--json", "--passphrase-file", passFile, encrypted]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal((JSON.parse(accepted.stdout) as HashJson[])[0]!.pin, ec.pin);
    writeFileSync(join(tmp.dir, "wrong.txt"), "wrong\n");
    const wrong = await runCli(["hash", "--passphrase-file", join(tmp.dir, "wrong.txt"), encrypted]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /passphrase does not decrypt/);
  });

  it("hashes a legacy encrypted PEM key (Proc-Type: 4,ENCRYPTED) with --passphrase-file, as openssl does", async () => {
    const rsa = materials.find((m) => m.kind === "rsa-2048")!;
    const legacy = join(tmp.dir, "legacy.pem");
    const passFile = join(tmp.dir, "legacy-pass.txt");
    writeFileSync(passFile, "correct horse\n");
    const plainKey = rsa.files["private key PEM (PKCS#8)"]!;
    openssl([
      "rsa",
      "-in",
      plainKey,
      "-aes128",
      "-traditional",
      "-passout",
      `file:${passFile}`,
      "-out",
      legacy,
    ]);
    assert.match(readFileSync(legacy, "utf8"), /Proc-Type: 4,ENCRYPTED/);
    const accepted = await runCli(["hash", "--json", "--passphrase-file", passFile, legacy]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal((JSON.parse(accepted.stdout) as HashJson[])[0]!.pin, rsa.pin);
  });

  it("calls a wrong passphrase wrong even when its garbage passes AES-CBC's padding check (1 in ~256)", async () => {
    const ec = materials.find((m) => m.kind === "ec-p256")!;
    const encrypted = join(tmp.dir, "iter1.pem");
    encryptPkcs8(ec, encrypted, "pass:right one", "-v2", "aes-256-cbc", "-iter", "1");
    // node:crypto itself finds the passphrase: one whose decryption fails after the padding check.
    const key = readFileSync(encrypted, "utf8");
    let sneaky: string | undefined;
    for (let i = 0; i < 20_000 && sneaky === undefined; i++) {
      try {
        createPrivateKey({ key, format: "pem", passphrase: `wrong-${i}` });
      } catch (error) {
        if ((error as { code?: string }).code !== "ERR_OSSL_BAD_DECRYPT") sneaky = `wrong-${i}`;
      }
    }
    assert.ok(sneaky, "no wrong passphrase in 20,000 got past the padding check");
    const passFile = join(tmp.dir, "sneaky-pass.txt");
    writeFileSync(passFile, `${sneaky}\n`);
    const result = await runCli(["hash", "--passphrase-file", passFile, encrypted]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /^keypin: .*iter1\.pem: entry 0 is a private key that the passphrase does not decrypt/,
    );
    assert.equal(result.stderr.trimEnd().split("\n").length, 1);
  });

  it("refuses a DSA private key in one line, before OpenSSL derives its public half (the control: openssl reads it)", async () => {
    const params = join(tmp.dir, "dsa.params");
    const key = join(tmp.dir, "dsa.key.pem");
    openssl([
      "genpkey",
      "-genparam",
      "-algorithm",
      "DSA",
      "-pkeyopt",
      "dsa_paramgen_bits:1024",
      "-out",
      params,
    ]);
    openssl(["genpkey", "-paramfile", params, "-out", key]);
    assert.match(openssl(["pkey", "-in", key, "-pubout"]).toString(), /BEGIN PUBLIC KEY/);
    const refused = await runCli(["hash", key]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stdout, "");
    assert.equal(refused.stderr.trimEnd().split("\n").length, 1);
    assert.match(
      refused.stderr,
      /entry 0 is a DSA key: keypin pins RSA, EC and EdDSA keys; it was not loaded/,
    );
  });

  it("hashes keys in PBES2 with DES-EDE3-CBC and with scrypt, and refuses a DSA key inside one before OpenSSL loads it", async () => {
    const ec = materials.find((m) => m.kind === "ec-p256")!;
    const passFile = join(tmp.dir, "pbes2-pass.txt");
    writeFileSync(passFile, "correct horse\n");
    for (const [name, options] of [
      ["des3.pem", ["-v2", "des3"]],
      ["scrypt.pem", ["-scrypt", "-scrypt_N", "1024"]],
    ] as const) {
      const encrypted = join(tmp.dir, `ec-${name}`);
      encryptPkcs8(ec, encrypted, `file:${passFile}`, ...options);
      const accepted = await runCli(["hash", "--json", "--passphrase-file", passFile, encrypted]);
      assert.equal(accepted.code, 0, accepted.stderr);
      assert.equal((JSON.parse(accepted.stdout) as HashJson[])[0]!.pin, ec.pin);
    }
    const params = join(tmp.dir, "dsa-des3.params");
    const dsa = join(tmp.dir, "dsa-des3.plain.pem");
    const encrypted = join(tmp.dir, "dsa-des3.pem");
    openssl([
      "genpkey",
      "-genparam",
      "-algorithm",
      "DSA",
      "-pkeyopt",
      "dsa_paramgen_bits:1024",
      "-out",
      params,
    ]);
    openssl(["genpkey", "-paramfile", params, "-out", dsa]);
    openssl([
      "pkcs8",
      "-topk8",
      "-in",
      dsa,
      "-v2",
      "des3",
      "-passout",
      `file:${passFile}`,
      "-out",
      encrypted,
    ]);
    // The control: openssl decrypts and loads it.
    assert.match(
      openssl(["pkey", "-in", encrypted, "-passin", `file:${passFile}`, "-pubout"]).toString(),
      /BEGIN PUBLIC KEY/,
    );
    const refused = await runCli(["hash", "--passphrase-file", passFile, encrypted]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stdout, "");
    assert.equal(refused.stderr.trimEnd().split("\n").length, 1);
    assert.match(
      refused.stderr,
      /entry 0 is a DSA key: keypin pins RSA, EC and EdDSA keys; it was not loaded/,
    );
  });

  it("says how to re-encrypt a key in a form keypin does not decrypt (RC2), and the way out works", async () => {
    const ec = materials.find((m) => m.kind === "ec-p256")!;
    const rc2 = join(tmp.dir, "rc2.pem");
    const passFile = join(tmp.dir, "rc2-pass.txt");
    writeFileSync(passFile, "correct horse\n");
    const legacyProviders = ["-provider", "legacy", "-provider", "default"];
    encryptPkcs8(ec, rc2, `file:${passFile}`, "-v1", "PBE-SHA1-RC2-40", ...legacyProviders);
    const refused = await runCli(["hash", "--passphrase-file", passFile, rc2]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, "");
    assert.equal(refused.stderr.trimEnd().split("\n").length, 1);
    const advice = /re-encrypt it with: (openssl pkcs8 .*)$/.exec(refused.stderr.trimEnd());
    assert.ok(advice, refused.stderr);
    // Run the advice as printed, with the files filled in, and hash the result.
    const args = advice[1]!
      .split(" ")
      .slice(1)
      .map((a) => (a === "KEY" ? rc2 : a === "NEW" ? join(tmp.dir, "aes.pem") : a));
    openssl([...args, "-passin", "pass:correct horse", "-passout", "pass:correct horse"]);
    const accepted = await runCli([
      "hash",
      "--json",
      "--passphrase-file",
      passFile,
      join(tmp.dir, "aes.pem"),
    ]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal((JSON.parse(accepted.stdout) as HashJson[])[0]!.pin, ec.pin);
  });

  describe("refuses bad input with one line on stderr, exit 2 and nothing on stdout", () => {
    const cases: [string, () => string | { input: string }, RegExp][] = [
      ["a missing file", () => join(tmp.dir, "nope.pem"), /nope\.pem: no such file/],
      ["an empty file", () => write("empty.pem", ""), /empty\.pem: the file is empty/],
      ["garbage", () => write("garbage.pem", "this is not a certificate\n"), /garbage\.pem: /],
      [
        "a truncated PEM",
        () => {
          const pem = readFileSync(materials[0]!.files["cert PEM"]!, "utf8");
          return write("truncated.pem", pem.slice(0, Math.floor(pem.length / 2)));
        },
        /truncated\.pem: /,
      ],
      [
        "a PEM with bad base64",
        () => {
          const lines = readFileSync(materials[1]!.files["cert PEM"]!, "utf8").split("\n");
          lines[2] = `${lines[2]!.slice(0, 10)}!!!*${lines[2]!.slice(14)}`;
          return write("bad-base64.pem", lines.join("\n"));
        },
        /bad-base64\.pem: /,
      ],
      [
        "a PEM of the wrong type",
        () =>
          write(
            "dh.pem",
            openssl([
              "genpkey",
              "-genparam",
              "-algorithm",
              "DH",
              "-pkeyopt",
              "dh_paramgen_prime_len:512",
            ]).toString(),
          ),
        /dh\.pem: /,
      ],
      [
        "a truncated DER certificate",
        () => {
          const der = readFileSync(materials[1]!.files["cert DER"]!);
          return write("truncated.der", der.subarray(0, der.length - 20));
        },
        /truncated\.der: /,
      ],
      ["a directory", () => tmp.dir, /is a directory/],
      ["empty stdin", () => ({ input: "" }), /stdin: the file is empty/],
    ];
    const write = (name: string, content: string | Uint8Array) => {
      const path = join(tmp.dir, name);
      writeFileSync(path, content);
      return path;
    };
    for (const [name, make, pattern] of cases) {
      it(`refuses ${name}`, async () => {
        const input = make();
        const result =
          typeof input === "string"
            ? await runCli(["hash", input])
            : await runCli(["hash", "-"], { input: input.input });
        assert.equal(result.code, 2, `exit code for ${name}: ${result.stderr}`);
        assert.equal(result.stdout, "");
        assert.match(result.stderr, /^keypin: /);
        assert.match(result.stderr, pattern);
        assert.equal(result.stderr.trimEnd().split("\n").length, 1, `one line: ${result.stderr}`);
        assert.ok(!hasStack(result.stderr));
      });
    }
    it("writes nothing on stdout with --json when one of several files is bad", async () => {
      const result = await runCli([
        "hash",
        "--json",
        materials[0]!.files["cert PEM"]!,
        join(tmp.dir, "missing.der"),
      ]);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, "");
    });
  });
});
