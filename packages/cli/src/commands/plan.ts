import { type DomainPolicy, normalizeHost } from "@keypin/core";
import {
  formatDay,
  type HostPlan,
  type Plan,
  type PlanHostInput,
  parseRenewalInfo,
  planEvents,
  planPins,
  renderIcs,
  renderSvg,
} from "@keypin/plan";
import { singleString, stringList } from "../args.js";
import { defineCommand } from "../command.js";
import { FailureError, oneLine, UsageError } from "../errors.js";
import { inspectHost } from "../lib/connect.js";
import { networkArgs, readNetworkOptions } from "../lib/network-options.js";
import { planInputOf, readChainFile } from "../lib/plan-input.js";
import { readPolicy } from "../lib/policy-file.js";
import { mapConcurrent } from "../lib/pool.js";
import { describeFsError, readTextInput } from "../lib/read-input.js";
import { refuseOutputOverInput, writeOutputFile } from "../lib/write-output.js";
import { type Colors, colorsFor, formatCount, formatTable, printJson, printLines } from "../output.js";

const command = "keypin plan";

/** Default `--release-days`: two weeks from merge to the stores, review included. */
export const defaultReleaseDays = 14;
/** Default `--adoption-days`: a quarter until the versions before a release no longer matter. */
export const defaultAdoptionDays = 90;

function days(text: string, flag: string): number {
  if (!/^[0-9]+$/.test(text) || Number(text) > 3650) {
    throw new UsageError(
      `option ${flag} of \`${command}\` needs a whole number of days from 0 to 3650 (got "${text}")`,
    );
  }
  return Number(text);
}

/**
 * The day of `--today` (YYYY-MM-DD, a real calendar day) as its start, 00:00 UTC; the plan is dated as of it.
 *
 * @example
 * planDay("2027-03-15").toISOString(); // "2027-03-15T00:00:00.000Z"
 */
export function planDay(text: string): Date {
  const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(text);
  const date = match
    ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])))
    : undefined;
  // Date.UTC rolls 2027-02-30 over to March: a day that does not round-trip does not exist.
  if (!date || Number(match?.[1]) < 1970 || date.toISOString().slice(0, 10) !== text) {
    throw new UsageError(
      `option --today of \`${command}\` needs a calendar day as YYYY-MM-DD (UTC, from 1970), e.g. 2027-03-15 (got "${text}")`,
    );
  }
  return date;
}

/** Splits a `HOST=FILE` value (`--chain`, `--ari`), the host normalized. */
function hostFile(value: string, flag: string): { host: string; file: string } {
  const eq = value.indexOf("=");
  if (eq <= 0 || eq === value.length - 1) {
    throw new UsageError(`option ${flag} of \`${command}\` needs HOST=FILE (got "${value}")`);
  }
  return { host: normalizeHost(value.slice(0, eq)), file: value.slice(eq + 1) };
}

function byHost(values: readonly string[], flag: string, domains: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const value of values) {
    const { host, file } = hostFile(value, flag);
    if (!domains.has(host)) {
      throw new UsageError(
        `${flag} ${value}: ${host} is not a domain of the policy (${[...domains].join(", ")})`,
      );
    }
    if (out.has(host)) throw new UsageError(`${flag}: ${host} is given twice`);
    out.set(host, file);
  }
  return out;
}

function readAri(host: string, file: string): PlanHostInput["ari"] {
  const text = readTextInput(file, "ARI renewalInfo JSON (RFC 9773)");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--ari ${host}=${file}: not JSON (${error instanceof Error ? error.message : String(error)})`,
      {
        cause: error,
      },
    );
  }
  try {
    return parseRenewalInfo(json);
  } catch (error) {
    throw new UsageError(`--ari ${host}=${file}: ${oneLine(error)}`, { cause: error });
  }
}

function statusText(h: HostPlan, c: Colors): string {
  switch (h.status) {
    case "stable":
      return c.green("stable");
    case "planned":
      return c.yellow("planned");
    case "late":
      return c.red("late");
    case "mismatch":
      return c.red("mismatch");
    case "error":
      return c.red("error");
    default: {
      const never: never = h.status;
      return never;
    }
  }
}

const day = (d: Date | undefined) => (d ? formatDay(d) : "-");
const hostName = (h: HostPlan) => (h.port === 443 ? h.host : `${h.host}:${h.port}`);

/**
 * The human-readable form of a plan: per host its status, renewal and deadlines, a table of its pins, and the
 * findings, then a summary line.
 *
 * @example
 * printLines(formatPlan(plan, "keypin.json", colorsFor(process.stdout)));
 */
export function formatPlan(plan: Plan, policyFile: string, c: Colors): string[] {
  const lines = [
    c.bold(
      `${policyFile}: ${plan.hosts.length} host${plan.hosts.length === 1 ? "" : "s"}, planned ${formatDay(plan.now)} (release ${plan.releaseDays} days, adoption ${plan.adoptionDays} days)`,
    ),
  ];
  for (const h of plan.hosts) {
    lines.push(
      "",
      `${statusText(h, c)}  ${c.bold(hostName(h))}${h.mode === "report-only" ? c.dim(" (report-only)") : ""}`,
    );
    if (h.status === "error") {
      lines.push(`  ${h.error ?? ""}`);
      continue;
    }
    if (h.renewal) {
      lines.push(
        `  renewal ${day(h.renewal.at)} (${h.renewal.source === "ari" ? "the CA's ARI window" : `two thirds into its ${h.renewal.lifetimeDays}-day lifetime`})${h.reuseKey ? `, same key${h.reuseKeyFrom === "option" ? " (--reuse-key)" : h.reuseKeyFrom === "policy" ? " (keypin.json renewal.reuseKey)" : ""}` : ", new key"}${h.renewal.ariCertId ? c.dim(`  ARI id ${h.renewal.ariCertId}`) : ""}`,
      );
    }
    if (h.breaksAt) {
      lines.push(
        `  no pinned key left ${day(h.breaksAt)}; ${h.successor === "backup" ? "renew onto the backup key, then a new backup pin:" : "the next pin:"} merge by ${day(h.mergeBy)}, in the stores by ${day(h.shipBy)}`,
      );
    } else if (h.status !== "mismatch") {
      lines.push("  a pinned key stays on the path through the horizon");
    }
    const rows = [["pin", "certificate", "leaves the path", "releases may drop it"]].map((r) =>
      r.map((x) => c.dim(x)),
    );
    for (const p of h.pins) {
      rows.push([
        p.pin,
        p.position === undefined
          ? `${p.role ?? "pin"}: not served`
          : `${p.position === 0 ? "leaf" : `CA ${p.position}`}: ${p.subject ?? ""}`,
        p.position === undefined ? "-" : day(p.changesAt),
        day(p.removableAfter),
      ]);
    }
    lines.push(...formatTable(rows, "  "));
    for (const f of h.findings) {
      const mark =
        f.severity === "error" ? c.red("✗") : f.severity === "warning" ? c.yellow("!") : c.dim("i");
      lines.push(`  ${mark} ${f.message} ${c.dim(`[${f.code}]`)}`);
    }
  }
  const counts = new Map<string, number>();
  for (const h of plan.hosts) counts.set(h.status, (counts.get(h.status) ?? 0) + 1);
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(", ");
  const unread = plan.hosts.filter((h) => h.status === "error");
  // "act now" is for a deadline or a mismatch; a host that could not be read has no plan to act on.
  const actNow = plan.hosts.some(
    (h) => h.mode === "enforce" && (h.status === "late" || h.status === "mismatch"),
  );
  const notRead =
    unread.length > 0
      ? `; could not read ${unread.map(hostName).join(", ")}, so ${unread.length === 1 ? "it has" : "they have"} no plan`
      : "";
  lines.push(
    "",
    plan.ok ? c.green(`plan: ${summary}`) : c.red(`plan: ${summary}${actNow ? ": act now" : ""}${notRead}`),
  );
  return lines;
}

function writeOutput(file: string, text: string, flag: string): void {
  try {
    writeOutputFile(file, text);
  } catch (error) {
    throw new UsageError(`${flag} ${file}: ${describeFsError(error)}`, { cause: error });
  }
}

/**
 * The `keypin plan` command: a dated plan of each pin's life against renewals, CA families, the SC-081
 * lifetimes and the app's release and adoption times.
 *
 * @example
 * keypin plan --release-days 14 --adoption-days 90 --ics pins.ics --svg pins.svg --check
 */
export default defineCommand({
  meta: {
    name: "plan",
    description:
      "date each pin's end: renewals (SC-081 lifetimes, ARI), CA families, and when the next pin must be merged and released",
  },
  args: {
    policy: { type: "string", valueHint: "FILE", description: "the policy file", default: "keypin.json" },
    "release-days": {
      type: "string",
      valueHint: "N",
      description: "days from merging a change to the release being in the stores, review included",
      default: String(defaultReleaseDays),
    },
    "adoption-days": {
      type: "string",
      valueHint: "N",
      description: "days until the app versions before a release no longer matter",
      default: String(defaultAdoptionDays),
    },
    "reuse-key": {
      type: "string",
      valueHint: "HOST|all",
      description:
        'for this run: the host\'s renewals keep the leaf key (certbot --reuse-key), over keypin.json\'s "renewal": { "reuseKey": … }; `all` for every host (repeatable)',
      repeatable: true,
    },
    today: {
      type: "string",
      valueHint: "YYYY-MM-DD",
      description:
        "date the plan as of this day (UTC) instead of today, for replays and CI; the live chains are still read now",
    },
    offline: {
      type: "boolean",
      description: "read each host's chain from --chain files instead of connecting",
    },
    chain: {
      type: "string",
      valueHint: "HOST=FILE",
      description: "with --offline: the host's chain in PEM, leaf first (repeatable, one per domain)",
      repeatable: true,
    },
    ari: {
      type: "string",
      valueHint: "HOST=FILE",
      description:
        "the CA's ARI renewalInfo JSON for the host's leaf (RFC 9773; its id is in the plan) (repeatable)",
      repeatable: true,
    },
    json: {
      type: "boolean",
      description: "print the plan as one JSON object: { now, releaseDays, adoptionDays, ok, hosts }",
    },
    ics: { type: "string", valueHint: "FILE", description: "write the deadlines as an iCalendar file" },
    svg: {
      type: "string",
      valueHint: "FILE",
      description: "write a timeline of each pin against the release and adoption windows",
    },
    check: {
      type: "boolean",
      description:
        "for CI: exit 1 when a deadline falls inside the release lead time or no pin matches today",
    },
    ...networkArgs,
  },
  exitCodes: {
    0: "the plan was made: every host was read (with --check: and no enforced host is late or mismatched)",
    1: "a host could not be read (no connection, an untrusted chain; no --ics or --svg file is written); with --check: a deadline falls inside the release lead time, or no pin matches today",
    2: "bad option, missing or invalid policy, chain or ARI file",
  },
  examples: [
    "keypin plan",
    "keypin plan --release-days 21 --adoption-days 120 --reuse-key api.myapp.com --ics pins.ics --svg pins.svg",
    "keypin plan --offline --chain api.myapp.com=api-chain.pem --check   # CI without network",
    "keypin plan --offline --chain api.myapp.com=api-chain.pem --today 2027-03-15 --json   # as of a given day",
  ],
  async run({ args }) {
    if (args._.length > 0) {
      throw new UsageError(
        `\`${command}\` takes no arguments (got "${args._.join(" ")}"); chains go in --chain HOST=FILE`,
      );
    }
    const todayText = singleString(args.today, "--today", command);
    const now = todayText === undefined ? new Date() : planDay(todayText);
    const releaseDays = days(args["release-days"], "--release-days");
    const adoptionDays = days(args["adoption-days"], "--adoption-days");
    if (!args.offline && args.chain.length > 0) {
      throw new UsageError(
        `--chain is for --offline plans; without --offline, ${command} reads the live chains`,
      );
    }
    const net = args.offline ? undefined : readNetworkOptions(args, command);
    const { policy } = await readPolicy(args.policy);
    const domains = new Set(policy.domains.map((d) => d.domain));
    const reuse = stringList(args["reuse-key"]).map((h) => (h === "all" ? h : normalizeHost(h)));
    for (const host of reuse) {
      if (host !== "all" && !domains.has(host)) {
        throw new UsageError(`--reuse-key ${host}: not a domain of the policy (${[...domains].join(", ")})`);
      }
    }
    const chains = byHost(args.chain, "--chain", domains);
    const ariFiles = byHost(args.ari, "--ari", domains);
    if (args.offline) {
      const missing = policy.domains.filter((d) => !chains.has(d.domain)).map((d) => d.domain);
      if (missing.length > 0) {
        throw new UsageError(
          `--offline needs --chain HOST=FILE for every domain of the policy; missing: ${missing.join(", ")}`,
        );
      }
    }
    const ari = new Map([...ariFiles].map(([host, file]) => [host, readAri(host, file)]));
    const offlinePaths = new Map(
      policy.domains.flatMap((d) => {
        const file = chains.get(d.domain);
        return file === undefined
          ? []
          : [[d.domain, readChainFile(file, d.domain, d.includeSubdomains)] as const];
      }),
    );

    const inputs = await mapConcurrent(policy.domains, 8, async (d: DomainPolicy): Promise<PlanHostInput> => {
      // keypin.json's renewal.reuseKey says it for good; --reuse-key says it for this run, over the policy.
      const byOption = reuse.includes("all") || reuse.includes(d.domain);
      const byPolicy = d.renewal?.reuseKey === true;
      const live: Parameters<typeof planInputOf>[2] = { reuseKey: byOption || byPolicy };
      const hostAri = ari.get(d.domain);
      if (hostAri) live.ari = hostAri;
      const offline = offlinePaths.get(d.domain);
      if (offline) {
        live.path = offline;
      } else if (net) {
        try {
          const inspection = await inspectHost({ host: d.domain, port: 443 }, net);
          if (!inspection.trusted || !inspection.verified || inspection.hostnameError) {
            live.error = `untrusted: ${inspection.hostnameError ?? inspection.authorizationError ?? inspection.pathProblem ?? "no verified path to a trusted CA"}`;
          } else {
            live.path = inspection.verified;
          }
        } catch (error) {
          if (!(error instanceof FailureError)) throw error;
          live.error = oneLine(error);
        }
      }
      const input = planInputOf(d, 443, live);
      if (byOption) input.reuseKeyFrom = "option";
      else if (byPolicy) input.reuseKeyFrom = "policy";
      return input;
    });
    const plan = planPins(inputs, { now, releaseDays, adoptionDays });
    // A host that could not be read (no connection, an untrusted chain) has no dates: a calendar or a
    // timeline without it would look like nothing to do, so none is written and the run fails (exit 1, as
    // `keypin check` does for such a host), with or without --check.
    const unread = plan.hosts.filter((h) => h.status === "error");
    const files = [
      ...(args.ics !== undefined ? [`--ics ${args.ics}`] : []),
      ...(args.svg !== undefined ? [`--svg ${args.svg}`] : []),
    ];
    if (unread.length === 0) {
      // Both outputs are checked before either is written: --ics ok.ics --svg keypin.json writes nothing.
      for (const file of [args.ics, args.svg]) if (file !== undefined) refuseOutputOverInput(file);
      if (args.ics !== undefined) writeOutput(args.ics, renderIcs(plan), "--ics");
      if (args.svg !== undefined) writeOutput(args.svg, renderSvg(plan), "--svg");
    }
    if (args.json) printJson(plan);
    else {
      const lines = formatPlan(plan, args.policy, colorsFor(process.stdout));
      if (unread.length === 0) {
        if (args.ics !== undefined)
          lines.push(
            `wrote ${args.ics} (${formatCount(planEvents(plan).length, "event")}${planEvents(plan).length === 0 ? ": no renewal or deadline falls in the plan's window" : ""})`,
          );
        if (args.svg !== undefined) lines.push(`wrote ${args.svg}`);
      }
      printLines(lines);
    }
    if (unread.length > 0) {
      throw new FailureError(
        `plan failed: could not read ${unread.map((h) => `${hostName(h)} (${(h.error ?? "no chain").replace(/\.$/, "")})`).join(", ")}; no plan for ${unread.length === 1 ? "it" : "them"}${files.length > 0 ? `, and ${files.join(" and ")} not written` : ""} (to plan without connecting: --offline --chain HOST=FILE)`,
      );
    }
    if (args.check && !plan.ok) {
      const failed = plan.hosts.filter(
        (h) => h.mode === "enforce" && (h.status === "late" || h.status === "mismatch"),
      );
      throw new FailureError(
        `plan --check failed: ${failed
          .map((h) =>
            h.status === "late"
              ? `${h.host} late (the next pin had to be in the stores by ${day(h.shipBy)})`
              : `${h.host} ${h.status}`,
          )
          .join(", ")}`,
      );
    }
  },
});
