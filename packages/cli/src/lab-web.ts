// `keypin lab --web`: the lab's page on 127.0.0.1 until Ctrl-C, and `--open` to show it in the default browser.
import { spawn } from "node:child_process";
import { FailureError, UsageError } from "./errors.js";

/** What `keypin lab --web` was given. */
export interface LabWebArgs {
  open: boolean;
  /** `--port`'s value as typed, or undefined for a free port. */
  port: string | undefined;
}

/** `--port N`: a whole number from 0 to 65535 (0: any free port). */
export function parsePort(value: string | undefined): number {
  if (value === undefined) return 0;
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port > 65535) {
    throw new UsageError(
      `--port expects a port number from 0 to 65535 (got "${value}"); see \`keypin help lab\``,
    );
  }
  return port;
}

/** The command that opens a URL in the default browser on this platform. */
export function openCommand(url: string, platform: NodeJS.Platform = process.platform): [string, string[]] {
  if (platform === "darwin") return ["open", [url]];
  if (platform === "win32") return ["cmd", ["/c", "start", '""', url]];
  return ["xdg-open", [url]];
}

/**
 * Opens `url` in the default browser, detached: a missing opener or one that fails is a warning on stderr, never
 * a failure of the lab.
 */
export function openBrowser(url: string): void {
  const [command, args] = openCommand(url);
  const warn = (why: string): void => {
    process.stderr.write(`keypin lab: could not open a browser (${why}); open ${url} yourself.\n`);
  };
  try {
    const child = spawn(command, args, { detached: true, stdio: "ignore" });
    child.once("error", (error) =>
      warn(`${command}: ${(error as NodeJS.ErrnoException).code ?? error.message}`),
    );
    child.once("exit", (code) => {
      if (code !== 0 && code !== null) warn(`${command} exited with ${code}`);
    });
    child.unref();
  } catch (error) {
    warn(`${command}: ${(error as Error).message}`);
  }
}

/**
 * Serves the lab's page until SIGINT or SIGTERM, then closes every port (the page's, the lab's cast) and removes
 * the run's files.
 */
export async function runLabWeb(args: LabWebArgs): Promise<void> {
  const port = parsePort(args.port);
  const { startLabWeb } = await import("@keypin/lab-web");
  let web: Awaited<ReturnType<typeof startLabWeb>>;
  try {
    web = await startLabWeb({ port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
      throw new FailureError(
        `port ${port} on 127.0.0.1 is in use: pick another with --port, or leave --port out for a free one`,
        { cause: error },
      );
    }
    throw error;
  }
  const stopped = new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.stdout.write(
    `The lab runs in your browser at ${web.url}\n` +
      "Everything stays on 127.0.0.1 (no CDN, nothing from elsewhere). Ctrl-C closes every port.\n",
  );
  if (args.open) openBrowser(web.url);
  await stopped;
  await web.close();
  process.stdout.write("The lab closed every port and deleted its files.\n");
}
