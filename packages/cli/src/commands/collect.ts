import {
  AlertSender,
  describeDatabase,
  openStore,
  redactDatabaseSecrets,
  startCollector,
} from "@keypin/collect";
import { defineCommand } from "../command.js";
import { FailureError, UsageError } from "../errors.js";

const command = "keypin collect";

/** Splits `--listen HOST:PORT` (`[::1]:PORT` for IPv6; a bare port means 127.0.0.1). */
export function parseListen(value: string): { host: string; port: number } {
  const m =
    /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(value) ?? /^()()([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new UsageError(
      `option --listen of \`${command}\` needs HOST:PORT, e.g. 127.0.0.1:8470 or [::1]:8470 (got "${value}")`,
    );
  }
  return { host: m[1] || m[2] || "127.0.0.1", port };
}

export default defineCommand({
  meta: { name: "collect" },
  args: {
    listen: {
      type: "string",
      valueHint: "HOST:PORT",
      description: "address to listen on (port 0 picks a free one)",
      default: "127.0.0.1:8470",
    },
    database: {
      type: "string",
      valueHint: "FILE|postgres://…",
      description: "a SQLite file (embedded), or a PostgreSQL URL shared by several collectors",
      default: "./keypin-reports.db",
    },
    "alert-webhook": {
      type: "string",
      valueHint: "URL",
      description:
        "POST a JSON alert here when a new group appears (and with --alert-rate, when a host's rate passes it)",
    },
    "alert-rate": {
      type: "string",
      valueHint: "N",
      description: "alert when a host's reports in one minute reach N (needs --alert-webhook)",
    },
    "max-stored-mib": {
      type: "string",
      valueHint: "MIB",
      description:
        "the stored groups' budget (default 32): past it, reports of new groups are counted, not stored",
    },
    "allow-host": {
      type: "string",
      valueHint: "NAME[:PORT],…",
      description:
        "Host header values to accept besides 127.0.0.1/localhost (on loopback with no token, others are refused: DNS rebinding)",
    },
    "retain-days": {
      type: "string",
      valueHint: "DAYS",
      description:
        "delete groups not seen for DAYS days (checked at start and every hour; default: keep all)",
    },
  },
  examples: [
    "keypin collect",
    "keypin collect --listen 127.0.0.1:9000 --database reports.db",
    "keypin collect --listen 0.0.0.0:8470 --database postgres://collector@db.internal/keypin",
  ],
  exitCodes: { 1: "the database could not be opened or the address could not be bound", 2: "usage error" },
  async run({ args }) {
    const { host, port } = parseListen(args.listen);
    const retainText = args["retain-days"];
    if (
      retainText !== undefined &&
      (!/^[0-9]+$/.test(retainText) || Number(retainText) < 1 || Number(retainText) > 36500)
    ) {
      throw new UsageError(
        `option --retain-days of \`${command}\` needs a whole number of days from 1 to 36500 (got "${retainText}")`,
      );
    }
    const retainDays = retainText === undefined ? undefined : Number(retainText);
    const rateText = args["alert-rate"];
    if (rateText !== undefined && (!/^[0-9]+$/.test(rateText) || Number(rateText) < 1)) {
      throw new UsageError(
        `option --alert-rate of \`${command}\` needs a whole number of reports per minute, 1 or more (got "${rateText}")`,
      );
    }
    if (rateText !== undefined && args["alert-webhook"] === undefined) {
      throw new UsageError(
        `option --alert-rate of \`${command}\` needs --alert-webhook URL (where to send the alert)`,
      );
    }
    let alerts: AlertSender | undefined;
    if (args["alert-webhook"] !== undefined) {
      try {
        alerts = new AlertSender({
          webhook: args["alert-webhook"],
          ratePerMinute: rateText === undefined ? undefined : Number(rateText),
          onGiveUp: (alert, why) =>
            process.stderr.write(
              `keypin collect: gave up sending the ${alert.event} alert${"host" in alert ? ` for ${alert.host}` : ""}: ${why}\n`,
            ),
        });
      } catch (error) {
        throw new UsageError(`option --alert-webhook of \`${command}\`: ${(error as Error).message}`);
      }
    }
    const loopback = host === "127.0.0.1" || host === "::1" || host === "localhost";
    const token = process.env.KEYPIN_COLLECT_TOKEN || undefined;
    if (!loopback && (token === undefined || token.length < 16)) {
      throw new UsageError(
        `${command} --listen ${args.listen}: bound beyond loopback, the dashboard and API need a token: set KEYPIN_COLLECT_TOKEN to 16 or more random characters (ingest stays open to devices)`,
      );
    }
    if (!/^postgres(ql)?:\/\//i.test(args.database) && /^\s*[A-Za-z_]+\s*=/.test(args.database)) {
      throw new UsageError(
        `option --database of \`${command}\` takes a SQLite file or a postgres:// URL, not libpq's key=value form (got "${describeDatabase(args.database)}"): write postgres://USER@HOST/DB and give the password in PGPASSWORD`,
      );
    }
    const mibText = args["max-stored-mib"];
    if (
      mibText !== undefined &&
      (!/^[0-9]+$/.test(mibText) || Number(mibText) < 1 || Number(mibText) > 1_048_576)
    ) {
      throw new UsageError(
        `option --max-stored-mib of \`${command}\` needs a whole number of MiB from 1 to 1048576 (got "${mibText}")`,
      );
    }
    const allowedHosts = (args["allow-host"] ?? "")
      .split(",")
      .map((h) => h.trim())
      .filter((h) => h !== "");
    let store: Awaited<ReturnType<typeof openStore>>;
    try {
      store = await openStore(args.database, {
        maxStoredBytes: mibText === undefined ? undefined : Number(mibText) * 1024 * 1024,
      });
    } catch (error) {
      throw new FailureError(
        `${command}: could not open the database ${describeDatabase(args.database)}: ${redactDatabaseSecrets(String((error as Error).message ?? error), args.database)}`,
      );
    }
    let collector: Awaited<ReturnType<typeof startCollector>>;
    try {
      collector = await startCollector({
        store,
        host,
        port,
        token,
        allowedHosts,
        retainDays,
        alerts,
        onError: (error) =>
          process.stderr.write(
            `keypin collect: ${redactDatabaseSecrets(String((error as Error).message ?? error), args.database)}\n`,
          ),
      });
    } catch (error) {
      await store.close();
      throw new FailureError(`${command}: could not listen on ${args.listen}: ${(error as Error).message}`);
    }
    const base = collector.url.replace(/\/report$/, "");
    process.stdout.write(
      [
        `keypin collect: storing reports in ${describeDatabase(args.database)}`,
        `ingest URL (kTSKReportUris, reportUris): ${collector.url}`,
        `dashboard: ${base}/${token ? "#token=<KEYPIN_COLLECT_TOKEN>" : ""}   API: ${base}/api/groups${token ? " (Authorization: Bearer <KEYPIN_COLLECT_TOKEN>)" : ""}`,
        "",
      ].join("\n"),
    );
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        collector
          .close()
          .then(() => store.close())
          .finally(resolve);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
  },
});
