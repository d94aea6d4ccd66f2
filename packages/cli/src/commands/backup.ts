import { singleString, stringList } from "../args.js";
import { defineCommand } from "../command.js";
import { UsageError } from "../errors.js";
import {
  type BackupAlgorithm,
  type BackupKeyResult,
  backupAlgorithms,
  createBackupKey,
} from "../lib/backup-key.js";
import { readPassphraseFile } from "../lib/read-input.js";
import { type Colors, colorsFor, formatTable, printJson, printLines } from "../output.js";

/**
 * The lines `keypin backup` prints after making a key: the pin, the files, and what to do with them.
 *
 * @example
 * printLines(describeBackup(result, colorsFor(process.stdout)));
 */
export function describeBackup(result: BackupKeyResult, c: Colors, policyFile?: string): string[] {
  return [
    `${c.green("Backup key pair created")} (${result.keyType})`,
    ...formatTable(
      [
        ["pin", c.green(result.pin)],
        [
          "key",
          `${result.keyFile} (mode 0600, ${result.encrypted ? "encrypted with your passphrase" : c.yellow("NOT encrypted")})`,
        ],
        ["csr", `${result.csrFile} (${result.subject})`],
      ],
      "  ",
    ),
    "",
    c.bold("What to do now:"),
    ...(policyFile === undefined
      ? [
          `  1. Add the pin to keypin.json as a backup: { "pin": "${result.pin}", "role": "backup" }`,
          `     (or let \`keypin init <host> --backup ${result.csrFile}\` do it), and ship it in the next app release.`,
        ]
      : [`  1. The pin is in ${policyFile} as the backup pin: ship it in the next app release.`]),
    "  2. Move the key file offline (encrypted drive, password manager, safe) and delete it from this machine.",
    "     The pin only helps if the key was never on the server: a stolen server must not take the backup with it.",
    "  3. Roll to it when the live key is lost, stolen or due to change: get a certificate for this CSR (or a new",
    "     CSR made from this key), deploy it, then make a new backup, ship it as the next backup pin, and drop the",
    "     old live pin only once app versions that still carry it have aged out.",
  ];
}

/**
 * The `keypin backup` command (loaded lazily by main.ts; see `keypin help backup` and the README).
 *
 * @example
 * keypin backup --out ~/keys
 */
export default defineCommand({
  meta: { name: "backup" },
  args: {
    out: {
      type: "string",
      valueHint: "DIR",
      description: "directory to write the key and CSR into",
      default: ".",
    },
    name: {
      type: "string",
      valueHint: "NAME",
      description: "base name of the files: NAME.key.pem and NAME.csr.pem",
      default: "keypin-backup",
    },
    algorithm: {
      type: "string",
      valueHint: backupAlgorithms.join("|"),
      description: "key type",
      default: "ec-p256",
    },
    subject: {
      type: "string",
      valueHint: '"CN=…"',
      description: "subject of the CSR",
      default: "CN=keypin backup key",
    },
    dns: {
      type: "string",
      valueHint: "NAME",
      description: "DNS name for the CSR's subjectAltName (repeatable)",
      repeatable: true,
    },
    "passphrase-file": {
      type: "string",
      valueHint: "FILE",
      description: "encrypt the key (PKCS#8, AES-256-CBC) with the first line of FILE",
    },
    json: {
      type: "boolean",
      description: "print one JSON object: { pin, keyType, algorithm, subject, keyFile, csrFile, encrypted }",
    },
  },
  exitCodes: {
    0: "the key and CSR were written",
    2: "bad option, a file that already exists (never overwritten), an unreadable passphrase file",
  },
  examples: [
    "keypin backup --out ~/keys --name api-backup-2026 --dns api.myapp.com --subject CN=api.myapp.com",
    "keypin backup --algorithm rsa-3072 --passphrase-file pass.txt",
  ],
  async run({ args }) {
    const command = "keypin backup";
    if (args._.length > 0)
      throw new UsageError(`\`${command}\` takes no arguments (got "${args._.join(" ")}")`);
    const algorithm = singleString(args.algorithm, "--algorithm", command) ?? "ec-p256";
    if (!(backupAlgorithms as readonly string[]).includes(algorithm)) {
      throw new UsageError(`--algorithm must be one of ${backupAlgorithms.join(", ")} (got "${algorithm}")`);
    }
    const name = singleString(args.name, "--name", command) ?? "keypin-backup";
    if (name === "" || /[/\\]/.test(name))
      throw new UsageError(`--name must be a plain file name (got "${name}")`);
    const passphraseFile = singleString(args["passphrase-file"], "--passphrase-file", command);
    let passphrase: string | undefined;
    if (passphraseFile !== undefined) {
      passphrase = readPassphraseFile(passphraseFile);
      if (passphrase.length < 4) {
        throw new UsageError(
          `${passphraseFile}: the passphrase (its first line) must be at least 4 characters`,
        );
      }
    }
    const result = await createBackupKey({
      dir: singleString(args.out, "--out", command) ?? ".",
      name,
      algorithm: algorithm as BackupAlgorithm,
      subject: singleString(args.subject, "--subject", command) ?? "CN=keypin backup key",
      dnsNames: stringList(args.dns),
      passphrase,
    });
    if (args.json) printJson(result);
    else printLines(describeBackup(result, colorsFor(process.stdout)));
  },
});
