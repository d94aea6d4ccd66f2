import { existsSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { computePin, normalizeHost, type Pin, type PolicyFile } from "@keypin/core";
import { exportFormats } from "@keypin/export";
import { sha256 } from "@keypin/node";
import { singleString } from "../args.js";
import { defineCommand } from "../command.js";
import { FailureError, oneLine, UsageError } from "../errors.js";
import { type BackupKeyResult, backupFilesOf, type MadeBackupKey, makeBackupKey } from "../lib/backup-key.js";
import { formatTarget, inspectHost } from "../lib/connect.js";
import {
  checkExpressible,
  choosePinShape,
  iosIdentityChoices,
  readPlatforms,
  renewalAdvice,
} from "../lib/init-platforms.js";
import { networkArgs, parseHostPort, readNetworkOptions } from "../lib/network-options.js";
import { mapConcurrent } from "../lib/pool.js";
import { type ProposedPin, proposeDomain, proposePins } from "../lib/propose.js";
import { describeFsError, readInput } from "../lib/read-input.js";
import { refuseOutputOverInput, writeOutputFile, writesSameFile } from "../lib/write-output.js";
import { colorsFor, formatTable, printJson, printLines } from "../output.js";
import { describeBackup } from "./backup.js";
import { hashInput } from "./hash.js";

/** Where the `$schema` of a written keypin.json points (the schema ships in @keypin/core). */
export const schemaReference = "./node_modules/@keypin/core/keypin.schema.json";

type BackupSource = { kind: "file"; path: string } | { kind: "generate"; dir: string };

/**
 * The pin of a backup key given as a file (certificate, public key, private key or CSR); the file must
 * hold exactly one key.
 *
 * @example
 * backupPinFromFile("backup.csr.pem"); // "sha256/…"
 */
export function backupPinFromFile(path: string): Pin {
  const entries = hashInput(path, readInput(path, "backup key, CSR or certificate (PEM or DER)"));
  const pins = [...new Set(entries.map((e) => e.pin))];
  if (pins.length !== 1) {
    throw new UsageError(
      `--backup ${path}: holds ${pins.length} different keys; give a file with the one backup key`,
    );
  }
  return pins[0]!;
}

async function askForBackup(defaultDir: string): Promise<BackupSource> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(
      "A policy needs a backup pin: a key that is on no server, kept offline, to roll to when the live key is lost.\n",
    );
    const closed = new Promise<never>((_, reject) =>
      rl.once("close", () => reject(new UsageError("init cancelled: no backup key chosen"))),
    );
    const answer = (
      await Promise.race([
        rl.question(
          `Generate one in ${defaultDir}/ [Y], use a key/CSR/certificate file (type its path), or quit [q]? `,
        ),
        closed,
      ])
    ).trim();
    if (answer === "" || /^y(es)?$/i.test(answer)) return { kind: "generate", dir: defaultDir };
    if (/^(q|quit|n|no)$/i.test(answer)) throw new UsageError("init cancelled: no backup key chosen");
    return { kind: "file", path: answer };
  } finally {
    rl.close();
  }
}

/**
 * The `keypin init` command (loaded lazily by main.ts; see `keypin help init` and the README).
 *
 * @example
 * keypin init api.myapp.com --generate-backup ~/keys
 */
export default defineCommand({
  meta: { name: "init" },
  usage: "[options] <host[:port]…>",
  args: {
    backup: {
      type: "string",
      valueHint: "FILE",
      description: "the backup key: its CSR, certificate, public or private key",
    },
    "generate-backup": {
      type: "string",
      valueHint: "DIR",
      description: "make a backup key pair and CSR in DIR (as `keypin backup --out DIR`)",
    },
    out: {
      type: "string",
      valueHint: "FILE",
      description: "where to write the policy",
      default: "keypin.json",
    },
    force: { type: "boolean", description: "overwrite an existing policy file" },
    "include-subdomains": { type: "boolean", description: "pin the hosts' subdomains too" },
    platforms: {
      type: "string",
      valueHint: "LIST",
      description: `the export formats the policy must fit exactly, comma-separated (default: all of ${exportFormats.join(",")})`,
      repeatable: true,
    },
    "ios-identities": {
      type: "string",
      valueHint: "leaf|ca",
      description:
        "with ios-ats: pin your leaf key and backup (default; renewals must reuse the key) or the CA keys only (no backup)",
      choices: iosIdentityChoices,
    },
    json: {
      type: "boolean",
      description: "print one JSON object: { file, policy, warnings, platforms, pinSet, backup? }",
    },
    ...networkArgs,
  },
  exitCodes: {
    0: "the policy was written",
    1: "a host could not be reached over TLS, or its chain is not trusted (no pins are taken from it)",
    2: "bad option, the policy file exists (without --force), no backup key and no terminal to ask on, a bad backup file, a chosen platform that cannot express the pin set exactly",
  },
  examples: [
    "keypin init api.myapp.com --generate-backup ~/keypin-backup",
    "keypin init api.myapp.com cdn.myapp.com --backup backup.csr.pem --out app/keypin.json",
    "keypin init api.myapp.com --platforms android-nsc,okhttp-kotlin --backup backup.csr.pem",
    "keypin init api.myapp.com --platforms ios-ats,android-nsc --ios-identities ca",
  ],
  async run({ args }) {
    const command = "keypin init";
    const backupName = "keypin-backup";
    if (args._.length === 0)
      throw new UsageError(`\`${command}\` needs at least one host (see \`keypin help init\`)`);
    const targets = args._.map((h) => parseHostPort(h));
    const out = singleString(args.out, "--out", command) ?? "keypin.json";
    const force = args.force === true;
    if (!force && existsSync(out)) {
      throw new UsageError(`${out} already exists; keypin init never overwrites it without --force`);
    }
    const backupFile = singleString(args.backup, "--backup", command);
    const generateDir = singleString(args["generate-backup"], "--generate-backup", command);
    if (backupFile !== undefined && generateDir !== undefined) {
      throw new UsageError("give either --backup FILE or --generate-backup DIR, not both");
    }
    const net = readNetworkOptions(args, command);
    const platforms = readPlatforms(args.platforms);
    const choice = choosePinShape(platforms, args["ios-identities"]);
    let source: BackupSource | undefined;
    if (choice.shape === "ca") {
      if (backupFile !== undefined || generateDir !== undefined) {
        throw new UsageError(
          `--ios-identities ca pins CA keys only, so a backup key of your own is not pinned; leave out ${backupFile !== undefined ? "--backup" : "--generate-backup"}, or use --ios-identities leaf`,
        );
      }
    } else if (backupFile !== undefined) source = { kind: "file", path: backupFile };
    else if (generateDir !== undefined) source = { kind: "generate", dir: generateDir };
    else if (process.stdin.isTTY === true && process.stderr.isTTY === true)
      source = await askForBackup("keypin-backup");
    else {
      throw new UsageError(
        "init needs a backup pin and there is no terminal to ask on: pass --backup FILE (a key, CSR or certificate) or --generate-backup DIR",
      );
    }
    // Read a given backup before connecting, so a bad file fails fast (exit 2).
    let backupPin: Pin | undefined = source?.kind === "file" ? backupPinFromFile(source.path) : undefined;
    // --out must not be one of the files just read (--backup, --ca): --force would replace a key or a CSR.
    refuseOutputOverInput(out);
    if (source?.kind === "generate") {
      // The key and CSR init is about to make: --out there (with --force) would replace the new backup key.
      const { keyFile, csrFile } = backupFilesOf(source.dir, backupName);
      for (const made of [keyFile, csrFile]) {
        if (writesSameFile(out, made))
          throw new UsageError(
            `--out ${out} is where --generate-backup writes the backup ${made === keyFile ? "key" : "CSR"}: the policy would replace it, so nothing was written; write the policy to another path`,
          );
      }
    }

    const inspections = await mapConcurrent(targets, 8, async (target) => {
      try {
        return { target, inspection: await inspectHost(target, net) };
      } catch (error) {
        if (error instanceof FailureError) return { target, error: oneLine(error) };
        throw error;
      }
    });
    const problems: string[] = [];
    for (const item of inspections) {
      if ("error" in item) problems.push(item.error ?? "");
      else if (!item.inspection.trusted || !item.inspection.verified || item.inspection.hostnameError) {
        const why = item.inspection.hostnameError ?? item.inspection.authorizationError ?? "no verified path";
        problems.push(
          `${formatTarget(item.target)}: the chain is not trusted (${why}); no pins are taken from it (add its CA with --ca if it is private)`,
        );
      }
    }
    if (problems.length > 0) throw new FailureError(problems.join("; "));

    // A generated key is made in memory and written only once the policy is known to be writable for every
    // chosen platform: a refused run leaves no key behind (and no key that a re-run would collide with).
    let made: MadeBackupKey | undefined;
    if (source?.kind === "generate") {
      const first = targets[0]!.host;
      made = await makeBackupKey({
        dir: source.dir,
        name: backupName,
        algorithm: "ec-p256",
        subject: `CN=${first}`,
        dnsNames: [...new Set(targets.map((t) => t.host))].filter(
          (h) => !h.includes(":") && !/^[0-9.]+$/.test(h),
        ),
      });
      backupPin = made.pin;
    }
    const backupLabel = made
      ? `offline backup key (${basename(made.keyFile)}); keep it off every server`
      : `offline backup key (${basename(backupFile ?? "")})`;

    const file: PolicyFile = { $schema: schemaReference, domains: {} };
    const proposals = new Map<string, ProposedPin[]>();
    for (const item of inspections) {
      if ("error" in item || !item.inspection.verified) continue;
      const domain = normalizeHost(net.servername ?? item.target.host);
      const livePins = new Set(
        [...item.inspection.served, ...item.inspection.verified].map((cert) => computePin(cert.spki, sha256)),
      );
      if (backupPin !== undefined && livePins.has(backupPin)) {
        throw new UsageError(
          `--backup ${backupFile}: that key is in the live chain of ${formatTarget(item.target)}; a backup must be a key that is on no server`,
        );
      }
      const backup = backupPin === undefined ? undefined : { pin: backupPin, label: backupLabel };
      const pins = proposePins(item.inspection.verified, backup, choice.shape);
      if (pins.length === 0) {
        throw new UsageError(
          `${formatTarget(item.target)}: its chain has no CA certificate above the leaf, so --ios-identities ca has no CA key to pin; use --ios-identities leaf`,
        );
      }
      const previous = proposals.get(domain);
      proposals.set(
        domain,
        previous ? [...previous, ...pins.filter((p) => !previous.some((q) => q.pin === p.pin))] : pins,
      );
    }
    for (const [domain, pins] of proposals) {
      const entry = proposeDomain(pins, { includeSubdomains: args["include-subdomains"] === true });
      // ATS leaf identities hold only while renewals keep the leaf key: the policy says so, for plan and lint.
      if (choice.shape === "leaf-backup") entry.renewal = { reuseKey: true };
      file.domains[domain] = entry;
    }
    // Every chosen format's real exporter must write it exactly, before anything is written.
    const { warnings } = checkExpressible(file, platforms);
    const advice = renewalAdvice(choice.shape, [...proposals.keys()]);
    const generated: BackupKeyResult | undefined = made?.write();
    try {
      const text = `${JSON.stringify(file, null, 2)}\n`;
      // Without --force the policy is created exclusively; with it, replaced whole or not at all.
      if (force) writeOutputFile(out, text);
      else writeFileSync(out, text, { flag: "wx" });
    } catch (error) {
      // No policy pins the new key: take it back, so that a re-run can make it again.
      made?.remove();
      throw new UsageError(
        `${out}: cannot write the policy: ${describeFsError(error)}${made ? " (the backup key made for it was removed)" : ""}`,
        { cause: error },
      );
    }
    if (args.json) {
      printJson({
        file: out,
        policy: file,
        warnings,
        platforms,
        pinSet: {
          shape: choice.shape,
          ...(choice.ios ? { iosIdentities: choice.ios } : {}),
          reasons: choice.reasons,
          renewals: advice,
        },
        ...(generated ? { backup: generated } : {}),
      });
      return;
    }
    const c = colorsFor(process.stdout);
    const lines = [
      c.green(`Wrote ${out}`),
      "",
      c.bold("Platforms"),
      `  ${platforms.join(", ")}: each one writes this policy exactly (checked with its exporter)`,
      ...choice.reasons.map((r) => `  ${r}`),
      "",
    ];
    for (const [domain, pins] of proposals) {
      lines.push(
        c.bold(domain),
        ...formatTable(
          pins.map((p) => [c.cyan(p.role), c.green(p.pin), c.dim(p.label)]),
          "  ",
        ),
        "",
      );
    }
    if (warnings.length > 0) {
      lines.push(
        c.bold("Warnings"),
        ...warnings.map((w) => `  ${c.yellow("!")} ${w.message} ${c.dim(`[${w.code}]`)}`),
        "",
      );
    }
    lines.push(c.bold("Renewals"), ...advice.map((a) => `  ${a}`), "");
    if (generated) lines.push(...describeBackup(generated, c, out), "");
    lines.push(
      c.bold("Next:"),
      // The policy holds host names, not ports: a host read on another port is checked there with --host.
      `  keypin check --policy ${out}${targets
        .filter((t) => t.port !== 443)
        .map((t) => ` --host ${formatTarget(t)}`)
        .join("")}     in CI, so a server change that would lock apps out fails the build`,
      `  keypin export --policy ${out} --format ${platforms[0]} …  to generate each platform's configuration (${platforms.join(", ")})`,
    );
    printLines(lines);
  },
});
