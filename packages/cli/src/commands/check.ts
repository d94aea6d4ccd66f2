import {
  type CertificateInfo,
  computePin,
  evaluateChain,
  findDomainPolicy,
  LINT_PLATFORMS,
  type LintFinding,
  type LintPlatform,
  lintPolicy,
  normalizeHost,
  type Pin,
  type Policy,
} from "@keypin/core";
import { exportFormats } from "@keypin/export";
import { sha256 } from "@keypin/node";
import { positiveInteger, singleString, stringList } from "../args.js";
import { defineCommand } from "../command.js";
import { FailureError, oneLine, UsageError } from "../errors.js";
import { describeHostnameError } from "../lib/chain-report.js";
import { formatTarget, inspectHost } from "../lib/connect.js";
import { lintLiveChain } from "../lib/live-lint.js";
import {
  type NetworkOptions,
  networkArgs,
  parseHostPort,
  readNetworkOptions,
} from "../lib/network-options.js";
import { readPolicy } from "../lib/policy-file.js";
import { mapConcurrent } from "../lib/pool.js";
import { type Colors, colorsFor, formatCount, formatTable, printJson, printLines } from "../output.js";

/** Per-host outcome of `keypin check`. */
export type HostStatus = "ok" | "pin-mismatch" | "untrusted" | "error" | "not-pinned";

/** A warning in `keypin check`'s output (policy lint, or a finding about a host's live chain). */
export interface CheckWarning {
  code: string;
  message: string;
  domain?: string;
  path?: string;
  /** The platform a platform rule is about (`--platforms`), e.g. `ios-ats`. */
  platform?: string;
}

/** One host in `keypin check --json`. */
export interface HostResult {
  host: string;
  port: number;
  /** The policy entry that applies (exact, or the nearest parent with includeSubdomains). */
  domain?: string;
  status: HostStatus;
  /** Whether a mismatch would break the connection on a device (false for report-only and unpinned). */
  enforced: boolean;
  matchedPin?: Pin;
  /** Subject of the certificate whose key matched. */
  matchedSubject?: string;
  /** The pins the server sent, in order. */
  servedPins: Pin[];
  /** The pins of the signature-verified path (leaf to anchor): the only ones that can match. */
  verifiedPins: Pin[];
  expectedPins?: Pin[];
  /** Why: the connection error, the trust error, or why the host is not pinned. */
  reason?: string;
  warnings: CheckWarning[];
}

/** The `keypin check --json` document. */
export interface CheckReport {
  ok: boolean;
  warnings: CheckWarning[];
  hosts: HostResult[];
}

/** Default `--concurrency`: enough to hide network latency, few enough for a laptop and a CI runner. */
export const defaultConcurrency = 32;

/** Pins of the certificates inspections return (@keypin/node hands out one object per distinct certificate). */
const pins = new WeakMap<CertificateInfo, Pin>();
function pinOf(cert: CertificateInfo): Pin {
  let pin = pins.get(cert);
  if (!pin) {
    pin = computePin(cert.spki, sha256);
    pins.set(cert, pin);
  }
  return pin;
}

/**
 * Connects to one host as a device would and says whether the policy holds for it.
 * Network failures are an `error` status, never an exception.
 *
 * @example
 * const result = await checkHost(policy, { host: "api.myapp.com", port: 443 }, net);
 */
export async function checkHost(
  policy: Policy,
  target: { host: string; port: number },
  net: NetworkOptions,
  now: Date = new Date(),
): Promise<HostResult> {
  const name = normalizeHost(net.servername ?? target.host);
  const domainPolicy = findDomainPolicy(policy, name);
  const base: HostResult = {
    host: target.host,
    port: target.port,
    status: "error",
    enforced: domainPolicy?.mode === "enforce",
    servedPins: [],
    verifiedPins: [],
    warnings: [],
  };
  if (domainPolicy) base.domain = domainPolicy.domain;
  let inspection: Awaited<ReturnType<typeof inspectHost>>;
  try {
    inspection = await inspectHost(target, net);
  } catch (error) {
    if (error instanceof FailureError) return { ...base, status: "error", reason: oneLine(error) };
    throw error;
  }
  base.servedPins = inspection.served.map(pinOf);
  base.verifiedPins = (inspection.verified ?? []).map(pinOf);
  if (!inspection.trusted || !inspection.verified || inspection.hostnameError) {
    const why = inspection.hostnameError
      ? `the certificate is not valid for ${name}: ${describeHostnameError(inspection.hostnameError)}`
      : (inspection.authorizationError ?? inspection.pathProblem ?? "no verified path to a trusted CA");
    if (inspection.pathProblem) base.warnings.push({ code: "path-rules", message: inspection.pathProblem });
    return { ...base, status: "untrusted", reason: why };
  }
  const chain = inspection.verified.map((cert, i) => ({ subject: cert.subject, pin: base.verifiedPins[i]! }));
  const verdict = evaluateChain({ policy, host: name, chain, now });
  if (domainPolicy) {
    base.warnings = lintLiveChain(domainPolicy, inspection.served, inspection.verified, now);
  }
  switch (verdict.verdict) {
    case "pinned":
      return {
        ...base,
        status: "ok",
        matchedPin: verdict.matched.pin,
        matchedSubject: verdict.matched.subject,
      };
    case "mismatch":
      return {
        ...base,
        status: "pin-mismatch",
        enforced: verdict.enforced,
        expectedPins: verdict.expectedPins,
        reason:
          verdict.expectedPins.length === 1
            ? `the one pin of ${verdict.domain} is not in the verified chain`
            : `none of the ${verdict.expectedPins.length} pins of ${verdict.domain} is in the verified chain`,
      };
    case "not-pinned":
      return {
        ...base,
        status: "not-pinned",
        enforced: false,
        reason:
          verdict.reason === "expired"
            ? `the pins of ${verdict.domain ?? name} have expired ("expires" has passed)`
            : "no policy entry covers this host",
      };
    default: {
      const never: never = verdict;
      throw new Error(`unexpected verdict ${JSON.stringify(never)}`);
    }
  }
}

/**
 * `--platforms a,b` (repeatable): the platforms whose rules lint applies too; none by default. Any export format
 * is a platform (`keypin export --format` names them); one lint has no rules for adds no finding.
 *
 * @example
 * readLintPlatforms(["ios-ats,node"]); // ["ios-ats", "node"]
 */
export function readLintPlatforms(
  values: readonly string[],
  formats: readonly string[] = exportFormats,
): LintPlatform[] | undefined {
  const names = values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
  if (names.length === 0) return undefined;
  for (const name of names) {
    if (!formats.includes(name))
      throw new UsageError(
        `--platforms: unknown platform "${name}"; the platforms are ${formats.join(", ")} (comma-separated)`,
      );
  }
  return LINT_PLATFORMS.filter((p) => names.includes(p));
}

function policyWarnings(
  policy: Policy,
  loaderWarnings: LintFinding[],
  platforms: readonly LintPlatform[] | undefined,
): CheckWarning[] {
  const seen = new Set<string>();
  const out: CheckWarning[] = [];
  const findings = lintPolicy(policy, platforms ? { platforms } : {});
  for (const finding of [...loaderWarnings, ...findings]) {
    const key = `${finding.code}\u0000${finding.path}\u0000${finding.platform ?? ""}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const warning: CheckWarning = { code: finding.code, message: finding.message, path: finding.path };
    if (finding.domain !== undefined) warning.domain = finding.domain;
    if (finding.platform !== undefined) warning.platform = finding.platform;
    out.push(warning);
  }
  return out;
}

/**
 * Whether the check passed: every host `ok` (or `not-pinned`), and with `strict` no warning and no
 * `not-pinned` host either.
 *
 * @example
 * checkPassed(report.hosts, report.warnings, false);
 */
export function checkPassed(
  hosts: readonly HostResult[],
  warnings: readonly CheckWarning[],
  strict: boolean,
): boolean {
  const failed = hosts.some(
    (h) => h.status === "pin-mismatch" || h.status === "untrusted" || h.status === "error",
  );
  if (failed) return false;
  if (!strict) return true;
  return warnings.length === 0 && hosts.every((h) => h.status === "ok" && h.warnings.length === 0);
}

function statusColor(status: HostStatus, c: Colors): string {
  switch (status) {
    case "ok":
      return c.green(status);
    case "not-pinned":
      return c.yellow(status);
    case "pin-mismatch":
    case "untrusted":
    case "error":
      return c.red(status);
    default: {
      const never: never = status;
      return never;
    }
  }
}

/**
 * The human-readable form of a check report.
 *
 * @example
 * printLines(formatCheckReport(report, "keypin.json", colorsFor(process.stdout)));
 */
export function formatCheckReport(report: CheckReport, policyFile: string, c: Colors): string[] {
  const rows = report.hosts.map((h) => {
    let detail = "";
    if (h.status === "ok") detail = `matched ${h.matchedSubject ?? ""} ${c.dim(h.matchedPin ?? "")}`;
    else if (h.status === "pin-mismatch")
      detail = `${h.enforced ? "" : c.dim("(report-only) ")}${h.reason ?? ""}`;
    else detail = h.reason ?? "";
    return [statusColor(h.status, c), formatTarget(h), detail];
  });
  const lines = [c.bold(`${policyFile}: ${formatCount(report.hosts.length, "host")}`)];
  lines.push(...formatTable(rows, "  "));
  for (const h of report.hosts.filter((x) => x.status === "pin-mismatch")) {
    lines.push("", `  ${formatTarget(h)} served (verified chain, leaf first):`);
    lines.push(...h.verifiedPins.map((p) => `    ${p}`));
    lines.push(`  expected one of:`, ...(h.expectedPins ?? []).map((p) => `    ${p}`));
  }
  const allWarnings = [...report.warnings, ...report.hosts.flatMap((h) => h.warnings)];
  if (allWarnings.length > 0) {
    lines.push(
      "",
      c.bold("Warnings"),
      ...allWarnings.map(
        (w) => `  ${c.yellow("!")} ${w.message} ${c.dim(`[${w.platform ? `${w.platform} ` : ""}${w.code}]`)}`,
      ),
    );
  }
  const counts = new Map<HostStatus, number>();
  for (const h of report.hosts) counts.set(h.status, (counts.get(h.status) ?? 0) + 1);
  const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(", ");
  lines.push("", report.ok ? c.green(`passed: ${summary}`) : c.red(`failed: ${summary}`));
  return lines;
}

/**
 * The `keypin check` command (loaded lazily by main.ts; see `keypin help check` and the README).
 *
 * @example
 * keypin check --policy keypin.json --strict
 */
export default defineCommand({
  meta: { name: "check" },
  args: {
    policy: { type: "string", valueHint: "FILE", description: "the policy file", default: "keypin.json" },
    host: {
      type: "string",
      valueHint: "NAME[:PORT]",
      description:
        "also check this host, e.g. a subdomain that includeSubdomains covers; a policy name with a port is checked on that port instead of 443 (repeatable)",
      repeatable: true,
    },
    concurrency: {
      type: "string",
      valueHint: "N",
      description: "hosts checked at the same time",
      default: String(defaultConcurrency),
    },
    strict: { type: "boolean", description: "fail on lint warnings and not-pinned hosts too" },
    platforms: {
      type: "string",
      valueHint: "LIST",
      description: `also lint the policy by these platforms' rules, comma-separated (${exportFormats.join(",")})`,
      repeatable: true,
    },
    json: {
      type: "boolean",
      description:
        "print one JSON object: { ok, warnings, hosts: [{ host, status, enforced, matchedPin?, servedPins, warnings }] }",
    },
    ...networkArgs,
  },
  exitCodes: {
    0: "every host passed (with --strict: and no warnings)",
    1: "a host had a pin mismatch (report-only too), an untrusted chain, or could not be reached over TLS",
    2: "bad option, missing or invalid policy file (JSON syntax, unknown fields, bad pins)",
  },
  examples: [
    "keypin check",
    "keypin check --policy app/keypin.json --host cdn.myapp.com --strict",
    "keypin check --proxy http://127.0.0.1:8080 --ca ~/.mitmproxy/mitmproxy-ca-cert.pem   # watch pinning hold",
  ],
  async run({ args }) {
    const command = "keypin check";
    if (args._.length > 0) {
      throw new UsageError(
        `\`${command}\` takes no arguments (got "${args._.join(" ")}"); hosts go in --host NAME`,
      );
    }
    const policyFile = singleString(args.policy, "--policy", command) ?? "keypin.json";
    const concurrency = positiveInteger(
      singleString(args.concurrency, "--concurrency", command) ?? String(defaultConcurrency),
      "--concurrency",
      command,
    );
    const extraHosts = stringList(args.host).map((h) => parseHostPort(h));
    const net = readNetworkOptions(args, command);
    const { policy, warnings: loaderWarnings } = await readPolicy(policyFile);

    const targets: { host: string; port: number }[] = [];
    const seen = new Set<string>();
    // --host NAME:PORT for one of the policy's own names checks it on that port instead of 443 (init writes
    // host names, not ports: `keypin init staging.myapp.com:8443` is checked with --host staging.myapp.com:8443).
    const portGiven = new Set(extraHosts.map((t) => normalizeHost(t.host)));
    const policyTargets = policy.domains
      .filter((d) => !portGiven.has(normalizeHost(d.domain)))
      .map((d) => ({ host: d.domain, port: 443 }));
    for (const target of [...policyTargets, ...extraHosts]) {
      const key = formatTarget({ host: normalizeHost(target.host), port: target.port });
      if (seen.has(key)) continue;
      seen.add(key);
      targets.push(target);
    }
    if (targets.length === 0) throw new UsageError(`${policyFile}: no domains to check, and no --host given`);

    const progress = process.stderr.isTTY === true;
    const hosts = await mapConcurrent(
      targets,
      concurrency,
      (target) => checkHost(policy, target, net),
      progress
        ? (done, total) =>
            process.stderr.write(`\r\u001b[2Kchecking ${done}/${total}${done === total ? "\r\u001b[2K" : ""}`)
        : undefined,
    );
    const warnings = policyWarnings(policy, loaderWarnings, readLintPlatforms(stringList(args.platforms)));
    const report: CheckReport = { ok: checkPassed(hosts, warnings, args.strict === true), warnings, hosts };
    if (args.json) printJson(report);
    else printLines(formatCheckReport(report, policyFile, colorsFor(process.stdout)));
    if (!report.ok) {
      const failed = hosts.filter((h) => h.status !== "ok" && h.status !== "not-pinned");
      throw new FailureError(
        failed.length > 0
          ? `check failed: ${failed.map((h) => `${formatTarget(h)} ${h.status}`).join(", ")}`
          : "check failed under --strict: there are warnings or hosts that are not pinned",
      );
    }
  },
});
