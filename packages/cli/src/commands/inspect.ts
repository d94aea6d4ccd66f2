import { defineCommand } from "../command.js";
import { FailureError, UsageError } from "../errors.js";
import { buildInspectReport, type ChainCertificate, type InspectReport } from "../lib/chain-report.js";
import { formatTarget, inspectHost } from "../lib/connect.js";
import { networkArgs, parseHostPort, readNetworkOptions } from "../lib/network-options.js";
import { type Colors, colorsFor, printJson, printLines } from "../output.js";

function formatCertificate(cert: ChainCertificate, c: Colors, width: number): string[] {
  const pad = " ".repeat(width + 4);
  const days =
    cert.daysLeft < 0
      ? c.red(`expired ${-cert.daysLeft} days ago`)
      : cert.daysLeft < 30
        ? c.yellow(`${cert.daysLeft} days left`)
        : `${cert.daysLeft} days left`;
  const role = cert.role === "extra" ? c.yellow(cert.role) : c.cyan(cert.role);
  return [
    `  ${role}${" ".repeat(width - cert.role.length)}  ${c.bold(cert.subject)}`,
    `${pad}issuer ${cert.issuer}`,
    `${pad}${cert.keyType}, valid ${cert.notBefore.slice(0, 10)} to ${cert.notAfter.slice(0, 10)} (${days})`,
    `${pad}${c.green(cert.pin)}`,
  ];
}

/**
 * The human-readable form of an inspect report.
 *
 * @example
 * printLines(formatInspectReport(report, colorsFor(process.stdout)));
 */
export function formatInspectReport(report: InspectReport, c: Colors): string[] {
  const width = Math.max(4, ...[...report.chain, ...report.verifiedChain].map((cert) => cert.role.length));
  // A chain that verifies but is for another name: the name is the problem, not the trust.
  const nameOnly = !report.trusted && !report.warnings.some((w) => w.code === "untrusted");
  const status = report.trusted
    ? c.green("trusted")
    : nameOnly
      ? `chain trusted, ${c.red(`NOT valid for ${report.servername || report.host}`)}`
      : c.red("NOT trusted");
  const lines = [
    // An IP address sends no server name (SNI): the report's servername is then empty, and not worth a word.
    `${c.bold(formatTarget(report))}${report.servername !== "" && report.servername !== report.host ? ` (server name ${report.servername})` : ""}: ${status}`,
    "",
    c.bold(`Served chain (${report.chain.length}, as sent)`),
    ...report.chain.flatMap((cert) => formatCertificate(cert, c, width)),
    "",
  ];
  if (report.verifiedChain.length > 0) {
    lines.push(
      c.bold(
        `Verified chain (${report.verifiedChain.length}, leaf to trust anchor; only these can match a pin)`,
      ),
      ...report.verifiedChain.flatMap((cert) => formatCertificate(cert, c, width)),
      "",
    );
  } else {
    lines.push(c.bold("Verified chain: none"), "  no signature-verified path to a trusted CA", "");
  }
  if (report.warnings.length > 0) {
    lines.push(
      c.bold("Warnings"),
      ...report.warnings.map((w) => `  ${c.yellow("!")} ${w.message} ${c.dim(`[${w.code}]`)}`),
      "",
    );
  }
  lines.push(c.bold("Advice"), ...report.advice.map((a) => `  - ${a}`));
  return lines;
}

/**
 * The `keypin inspect` command (loaded lazily by main.ts; see `keypin help inspect` and the README).
 *
 * @example
 * keypin inspect api.myapp.com
 */
export default defineCommand({
  meta: {
    name: "inspect",
    description: "connect to a server; show its served and verified chains, pins, advice and warnings",
  },
  usage: "[options] <host[:port]>",
  args: {
    target: {
      type: "positional",
      required: false,
      description: "host name or IP address, with an optional :port (default 443)",
    },
    json: {
      type: "boolean",
      description:
        "print one JSON object: { host, port, servername, trusted, chain, verifiedChain, warnings, advice }",
    },
    ...networkArgs,
  },
  exitCodes: {
    0: "connected; the chain is trusted and valid for the host",
    1: "untrusted chain or hostname mismatch (the report is still printed), unreachable host, not TLS, proxy refused, timeout",
    2: "bad option or argument, unreadable --ca file",
  },
  examples: [
    "keypin inspect api.myapp.com",
    "keypin inspect staging.myapp.com:8443 --ca company-root.pem",
    "keypin inspect api.myapp.com --connect-to api.myapp.com:443:10.0.0.5:443 --json",
  ],
  async run({ args }) {
    const command = "keypin inspect";
    if (args._.length !== 1) {
      throw new UsageError(
        `\`${command}\` takes one <host[:port]> (got ${args._.length === 0 ? "none" : `"${args._.join(" ")}"`})`,
      );
    }
    const target = parseHostPort(args._[0]!);
    const net = readNetworkOptions(args, command);
    const report = buildInspectReport(await inspectHost(target, net));
    if (args.json) printJson(report);
    else printLines(formatInspectReport(report, colorsFor(process.stdout)));
    const problem = report.warnings.find((w) => w.code === "untrusted" || w.code === "hostname-mismatch");
    if (problem) throw new FailureError(`${formatTarget(report)}: ${problem.message}`);
  },
});
