import { networkInterfaces } from "node:os";
import {
  type AuditReport,
  defaultCaDir,
  formatTable,
  installSteps,
  loadOrCreateAuditCa,
  ONBOARDING_HOST,
  permitsHost,
  printable,
  startAudit,
} from "@keypin/audit";
import { findDomainPolicy } from "@keypin/core";
import { defineCommand } from "../command.js";
import { FailureError, isCliError, oneLine, UsageError } from "../errors.js";
import { readPolicy } from "../lib/policy-file.js";
import { describeFsError, noteInput, readTextInput } from "../lib/read-input.js";
import { refuseOutputOverInput, writeOutputFile } from "../lib/write-output.js";
import { printError } from "../output.js";

const list = (values: string[]): string[] =>
  values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v !== "");

function parseListen(value: string | undefined): { host: string; port: number } {
  if (value === undefined) return { host: "127.0.0.1", port: 8080 };
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535)
    throw new UsageError(`--listen expects HOST:PORT or PORT, e.g. 0.0.0.0:8080 (got "${value}")`);
  return { host: match[1] || match[2] || "127.0.0.1", port };
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;

/** What the audit did not keep, in one line (undefined when it kept everything). */
function keptLine(kept: AuditReport["kept"]): string | undefined {
  const parts: string[] = [];
  if (kept.tunnelsOverLimit > 0)
    parts.push(
      `${count(kept.tunnelsOverLimit, "tunnel")} dropped over the record limit${kept.tunnelsOverLimitExpected > 0 ? ` (${kept.tunnelsOverLimitExpected} to expected hosts, which are not proven pinned)` : ""}`,
    );
  if (kept.requestEvidenceOverBudget > 0)
    parts.push(
      `${count(kept.requestEvidenceOverBudget, "request")} counted without evidence (the evidence budget was full)`,
    );
  if (kept.tunnelsUnjudged > 0)
    parts.push(
      `${count(kept.tunnelsUnjudged, "tunnel")} unjudged (an SNI name that is no host, or no readable ClientHello and no data)`,
    );
  if (kept.tunnelsFolded > 0)
    parts.push(`${count(kept.tunnelsFolded, "tunnel")} folded into their verdict's counts`);
  return parts.length > 0 ? `not kept: ${parts.join("; ")} (the JSON report's "kept")` : undefined;
}

function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i) => i && i.family === "IPv4" && !i.internal)
    .map((i) => i!.address);
}

/**
 * `keypin audit`: an intercepting proxy that says, host by host, whether the app pointed at it pins.
 *
 * @example
 * // keypin audit --duration 120 --expect-pinned api.example.com --report audit.json
 */
export default defineCommand({
  meta: { name: "audit" },
  usage:
    "[--listen HOST:PORT] [--ca-dir DIR] [--duration SECONDS] [--policy keypin.json | --expect-pinned HOSTS] [--json] [--report FILE]",
  examples: [
    "keypin audit                                   # proxy on 127.0.0.1:8080; Ctrl-C prints the report",
    "keypin audit --listen 0.0.0.0:8080             # for a phone on the same Wi-Fi",
    "keypin audit --policy keypin.json --duration 300 --report audit.json",
    "keypin audit --expect-pinned api.example.com --name-constraints api.example.com,cdn.example.com",
  ],
  exitCodes: {
    0: "every host of the policy (or --expect-pinned) is pinned",
    1: "one of them was intercepted, not seen, or not proven pinned",
    2: "bad option or unreadable input",
  },
  args: {
    listen: { type: "string", description: "address and port to listen on (default 127.0.0.1:8080)" },
    "ca-dir": { type: "string", description: `where the audit CA lives (default ${defaultCaDir()})` },
    "name-constraints": {
      type: "string",
      repeatable: true,
      description:
        "limit the audit CA to these hosts (comma-separated), so a CA left installed cannot be used elsewhere",
    },
    duration: { type: "string", description: "end the audit after this many seconds (default: at Ctrl-C)" },
    json: {
      type: "boolean",
      description: "print the report as JSON (MASTG-TEST-0244 intercepted domains plus every verdict)",
    },
    report: { type: "string", description: "also write the JSON report to FILE" },
    policy: {
      type: "string",
      description:
        "keypin.json: its hosts must be pinned (not-seen and intercepted fail), and so must every host it covers (includeSubdomains) that a client reached",
    },
    "expect-pinned": {
      type: "string",
      repeatable: true,
      description: "hosts that must be pinned (comma-separated)",
    },
    hosts: { type: "string", repeatable: true, description: "judge only these hosts (comma-separated)" },
    "show-secrets": {
      type: "boolean",
      description: "show Authorization, Cookie and similar values (masked by default)",
    },
    "upstream-ca": { type: "string", description: "PEM file of trust anchors for the real servers (tests)" },
  },
  async run({ args }) {
    const listen = parseListen(args.listen);
    const duration = args.duration === undefined ? undefined : Number(args.duration);
    if (duration !== undefined && !(Number.isFinite(duration) && duration > 0))
      throw new UsageError(`--duration expects a number of seconds above 0 (got "${args.duration}")`);
    if (args.policy !== undefined && args["expect-pinned"].length > 0)
      throw new UsageError("give either --policy or --expect-pinned, not both");
    const expected = list(args["expect-pinned"]);
    // --policy: its names must be seen and pinned; a name it covers through includeSubdomains (api.myapp.com
    // under myapp.com) need not be seen, but any verdict on it other than pinned fails the audit too.
    let covers: ((host: string) => boolean) | undefined;
    if (args.policy !== undefined) {
      try {
        const { policy } = await readPolicy(args.policy);
        expected.push(...policy.domains.map((d) => d.domain.toLowerCase()));
        if (policy.domains.some((d) => d.includeSubdomains))
          covers = (host) => findDomainPolicy(policy, host) !== undefined;
      } catch (error) {
        throw new UsageError(`--policy ${oneLine(error)}`, { cause: error });
      }
    }
    let upstreamCa: string[] | undefined;
    if (args["upstream-ca"] !== undefined) {
      try {
        upstreamCa = [readTextInput(args["upstream-ca"], "PEM file of trust anchors")];
      } catch (error) {
        throw new UsageError(`--upstream-ca ${oneLine(error)}`, { cause: error });
      }
    }
    const hosts = list(args.hosts);
    const nameConstraints = list(args["name-constraints"]);
    // Refused before any CA is made: the audit CA is not valid for a host outside its constraints, so a client
    // refuses it pinned or not, and the session could only end in "not proven pinned" for it. The same holds
    // for a host given to --hosts: the audit would judge it and could never prove it pinned.
    const outsideOf = (list: readonly string[]): string[] =>
      list.filter((host) => {
        try {
          return !permitsHost(nameConstraints, host);
        } catch (error) {
          throw new UsageError((error as Error).message, { cause: error });
        }
      });
    for (const [named, outside] of [
      [args.policy === undefined ? "--expect-pinned" : `--policy ${args.policy}:`, outsideOf(expected)],
      ["--hosts", outsideOf(hosts)],
    ] as const) {
      if (outside.length > 0)
        throw new UsageError(
          `${named} ${outside.join(", ")} ${outside.length > 1 ? "are" : "is"} outside --name-constraints ${nameConstraints.join(",")}: the audit CA is not valid there, so a client refuses it pinned or not and no pin can be proven; add ${outside.length > 1 ? "them" : "it"} to --name-constraints`,
        );
    }
    const ca = await loadOrCreateAuditCa({
      dir: args["ca-dir"] ?? defaultCaDir(),
      nameConstraints,
    }).catch((error: unknown) => {
      // A --name-constraints entry that is no host (the message names it and the accepted forms).
      if (error instanceof RangeError) throw new UsageError(error.message, { cause: error });
      throw error;
    });
    // The CA's files are inputs too: a --report over one of them (or over --policy, --upstream-ca) would
    // destroy it, so it is refused now, before the session, and not after it.
    noteInput(ca.certPath);
    noteInput(ca.keyPath);
    if (args.report !== undefined) {
      try {
        refuseOutputOverInput(args.report);
      } catch (error) {
        throw new UsageError(`--report ${oneLine(error)}`, { cause: error });
      }
    }
    const json = args.json === true;
    const log = printError;
    const tty = process.stdout.isTTY === true && !json;
    const audit = await startAudit({
      ca,
      host: listen.host,
      port: listen.port,
      ...(hosts.length > 0 ? { hosts } : {}),
      expectPinned: expected,
      ...(covers ? { expectCovers: covers } : {}),
      showSecrets: args["show-secrets"] === true,
      ...(upstreamCa ? { upstreamCa } : {}),
      onUpdate: (verdicts) => {
        if (tty) process.stdout.write(`\x1b[2J\x1b[H${formatTable(verdicts)}\n`);
      },
    });
    // Ctrl-C ends the audit from the moment the proxy is announced: the handlers are in place before the line
    // (a SIGINT right after it killed the process with the default action, and the report was lost).
    const ended = new Promise<void>((resolve) => {
      const end = (): void => {
        process.off("SIGINT", end);
        process.off("SIGTERM", end);
        clearTimeout(timer);
        resolve();
      };
      const timer = duration ? setTimeout(end, duration * 1000) : undefined;
      process.on("SIGINT", end);
      process.on("SIGTERM", end);
    });
    log(`keypin audit: proxy on ${audit.proxy.url}`);
    if (listen.host === "0.0.0.0" || listen.host === "::") {
      log(`warning: listening on every interface: anyone on this network can use this proxy while it runs.`);
      log(
        `  this machine's LAN address: ${lanAddresses().join(", ") || "(none found)"}, port ${audit.proxy.port}`,
      );
    }
    log(
      `audit CA ${ca.created ? "made" : "reused"}: ${ca.certPath} (${ca.pin}, until ${ca.notAfter.toISOString().slice(0, 10)}${ca.nameConstraints.length > 0 ? `, limited to ${ca.nameConstraints.join(", ")}` : ""})`,
    );
    log(`onboarding page through the proxy: http://${ONBOARDING_HOST}/`);
    for (const { platform, steps } of installSteps(ca.certPath)) {
      log(`  ${platform}:`);
      for (const step of steps) log(`    - ${step}`);
    }
    log(
      duration
        ? `the audit ends in ${duration} s (or at Ctrl-C)`
        : "exercise the app, then press Ctrl-C for the report",
    );
    await ended;
    const report: AuditReport = await audit.finish();
    const text = `${JSON.stringify(report, null, 2)}\n`;
    if (args.report !== undefined) {
      try {
        writeOutputFile(args.report, text);
      } catch (error) {
        if (isCliError(error)) throw new UsageError(`--report ${oneLine(error)}`, { cause: error });
        throw new UsageError(`--report ${args.report}: ${describeFsError(error)}; cannot write the report`, {
          cause: error,
        });
      }
    }
    if (json) process.stdout.write(text);
    else {
      // Hosts, reasons and request lines come from peers: every line is escaped (printable) before it is
      // written, so no peer can move the cursor, erase a line or print a line of its own (formatTable escapes
      // its cells).
      const out = (line: string): void => {
        process.stdout.write(`${printable(line)}\n`);
      };
      process.stdout.write(
        `${formatTable(report.verdicts) || "no client connected through the audit proxy"}\n`,
      );
      for (const v of report.verdicts) {
        process.stdout.write("\n");
        out(`${v.host} ${v.verdict}: ${v.explanation}`);
      }
      const skipped = report.upstreamPins.filter((u) => u.skipped);
      for (const u of report.upstreamPins) {
        if (u.skipped) continue;
        process.stdout.write("\n");
        out(
          `pins of ${u.host}'s real chain (for keypin init): ${u.pins.map((p) => p.pin).join(" ") || u.error}`,
        );
      }
      const inferred = report.verdicts.filter((v) => v.verdict === "pinned" && v.evidence.inferred);
      if (inferred.length > 0) {
        process.stdout.write("\n");
        out(
          `pinned (inferred) is an inference, not a pin seen on the host: each refusal counts as a pin because the same client (address and ClientHello fingerprint) was intercepted on another host (the control), and another app sharing the address and TLS stack looks the same. To make it firm: one app per session, --hosts with the app's hosts only (one unpinned among them), and a debug build that trusts the audit CA (keypin export --format android-nsc --audit-ca FILE).`,
        );
      }
      const kept = keptLine(report.kept);
      if (kept) {
        process.stdout.write("\n");
        out(kept);
      }
      if (skipped.length > 0) {
        process.stdout.write("\n");
        out(
          `real chains not looked up for ${skipped.length} more intercepted hosts (the audit reads at most a bounded number): ${skipped
            .slice(0, 10)
            .map((u) => u.host)
            .join(
              ", ",
            )}${skipped.length > 10 ? ", ..." : ""}; the JSON report lists them; keypin inspect HOST gives a host's pins`,
        );
      }
    }
    if (report.expectation && !report.expectation.ok) {
      const failing = report.expectation.failing;
      const overLimit = failing.find((f) => f.verdict === "over-limit");
      throw new FailureError(
        `not proven pinned: ${printable(
          failing
            .map(
              (f) =>
                `${f.host} (${f.verdict === "over-limit" ? `${count(f.tunnels ?? 0, "tunnel")} not kept, over the record limit` : f.verdict})`,
            )
            .join(", "),
        )}${overLimit ? `; ${printable(overLimit.explanation ?? "")}` : ""}`,
      );
    }
  },
});
