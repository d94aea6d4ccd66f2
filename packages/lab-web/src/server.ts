// The lab's web server: node:http on 127.0.0.1, one lab run at a time, every route of README.md.
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readAsset } from "./assets.js";
import { HttpError } from "./errors.js";
import { runFiles } from "./files.js";
import { isAllowedHost, isCrossSiteRequest, readJsonBody, sendError, sendJson, writeHead } from "./http.js";
import { labScenarios, type RunRequest } from "./lab-api.js";
import { listPins } from "./pins.js";
import { renderPlatforms } from "./platforms.js";
import { policyOfScenario } from "./policy.js";
import { LabWebRun } from "./run.js";
import { parseRunRequest } from "./validate.js";

/**
 * Options of {@link startLabWeb}.
 *
 * @example
 * const options: LabWebOptions = { port: 8080, signal: AbortSignal.timeout(60_000) };
 */
export interface LabWebOptions {
  /** The loopback address to listen on: `127.0.0.1` (default) or `::1`. Anything else is refused. */
  host?: "127.0.0.1" | "::1";
  /** The port; 0 (default) picks a free one. */
  port?: number;
  /** Closes the server (as `close()` does) when it aborts. */
  signal?: AbortSignal;
  /** The client build's folder (index.html and its files, flat); default this package's dist/client/. */
  assetsDir?: string;
  /**
   * Spaces each run's events by this many milliseconds (default 0: as the lab emits them). The run stays
   * `running` until its last event is out. For a page's tests, to reload while a run is going.
   */
  eventDelayMs?: number;
  /** The largest request body accepted, in bytes (default 16 KiB). */
  bodyLimit?: number;
  /** Told about a fault in the server (a 500); default: printed to stderr. Never sent to a client. */
  onError?: (error: unknown) => void;
}

/**
 * A running lab server.
 *
 * @example
 * const web = await startLabWeb();
 * console.log(web.url);
 * await web.close();
 */
export interface LabWeb {
  /** `http://127.0.0.1:<port>/`. */
  url: string;
  port: number;
  /** The folder (under the OS temp dir) holding each run's files, one subfolder per run; removed by `close()`. */
  dir: string;
  /** Stops the runs (and their cast), ends every event stream, closes the port, removes the run folders. */
  close(): Promise<void>;
}

const defaultAssetsDir = fileURLToPath(new URL("./client/", import.meta.url));
const maxKeptRuns = 16;

function notFound(what: string): HttpError {
  return new HttpError("ERR_LAB_WEB_NOT_FOUND", `There is no ${what}.`);
}

function methods(req: IncomingMessage, allowed: readonly string[]): void {
  const method = req.method ?? "";
  if (allowed.includes(method) || (method === "HEAD" && allowed.includes("GET"))) return;
  throw new HttpError("ERR_LAB_WEB_METHOD", `Expected ${allowed.join(" or ")} but got ${method}.`, {
    allow: allowed.join(", "),
  });
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function sendText(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  extra = {},
): void {
  const buffer = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  writeHead(res, status, { "content-type": contentType, "content-length": buffer.length, ...extra });
  res.end(buffer);
}

/**
 * Starts the lab's web server on 127.0.0.1 and, at once, the default run (every preset, in order) as `r1`.
 * Only a Host of `127.0.0.1:<port>` or `localhost:<port>` is answered (DNS rebinding), POSTs must be
 * application/json (no form of another origin can send one), responses carry a CSP of `default-src 'self'`.
 *
 * @example
 * import { startLabWeb } from "@keypin/lab-web";
 * const web = await startLabWeb({ port: 0 });
 * console.log(`open ${web.url}`);
 * process.once("SIGINT", () => void web.close());
 */
export async function startLabWeb(options: LabWebOptions = {}): Promise<LabWeb> {
  const host = options.host ?? "127.0.0.1";
  if (host !== "127.0.0.1" && host !== "::1") {
    throw new TypeError(
      `startLabWeb listens on a loopback address only (127.0.0.1 or ::1), not ${String(host)}.`,
    );
  }
  const assetsDir = options.assetsDir ?? defaultAssetsDir;
  const eventDelayMs = options.eventDelayMs ?? 0;
  const bodyLimit = options.bodyLimit ?? 16 * 1024;
  const onError =
    options.onError ??
    ((error: unknown) =>
      process.stderr.write(`keypin lab --web: ${(error as Error)?.stack ?? String(error)}\n`));
  options.signal?.throwIfAborted();

  const root = await mkdtemp(join(tmpdir(), "keypin-lab-web-"));
  const removeRootOnExit = (): void => rmSync(root, { recursive: true, force: true });
  process.once("exit", removeRootOnExit);
  const runs = new Map<string, LabWebRun>();
  const streams = new Set<ServerResponse>();
  let runCount = 0;
  let closing: Promise<void> | undefined;

  const startRun = (request: RunRequest): LabWebRun => {
    runCount++;
    const id = `r${runCount}`;
    const run = new LabWebRun({ id, request, dir: join(root, id), eventDelayMs });
    runs.set(id, run);
    // Keep the last runs only: the oldest finished one goes, with its folder.
    for (const [oldId, old] of runs) {
      if (runs.size <= maxKeptRuns) break;
      if (old.status === "running") continue;
      runs.delete(oldId);
      void rm(old.dir, { recursive: true, force: true });
    }
    return run;
  };

  const runOf = (id: string | undefined): LabWebRun => {
    const run = id === undefined ? undefined : runs.get(id);
    if (!run) throw notFound(`run ${JSON.stringify(id ?? "")} (GET /api/lab lists the runs)`);
    return run;
  };

  const streamEvents = (req: IncomingMessage, res: ServerResponse, run: LabWebRun): void => {
    const header = req.headers["last-event-id"];
    const last = typeof header === "string" && /^\d{1,9}$/.test(header.trim()) ? Number(header.trim()) : -1;
    writeHead(res, 200, {
      "content-type": "text/event-stream; charset=utf-8",
      "x-accel-buffering": "no",
    });
    res.on("error", () => {});
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    res.write("retry: 1000\n\n");
    streams.add(res);
    const unsubscribe = run.subscribe(
      {
        event: (seq, json) => {
          if (!res.writableEnded) res.write(`id: ${seq}\nevent: lab\ndata: ${json}\n\n`);
        },
        end: (status) => {
          if (!res.writableEnded) res.end(`event: end\ndata: ${JSON.stringify({ status })}\n\n`);
          streams.delete(res);
        },
      },
      last,
    );
    res.on("close", () => {
      unsubscribe();
      streams.delete(res);
    });
  };

  const routeRun = async (
    req: IncomingMessage,
    res: ServerResponse,
    run: LabWebRun,
    rest: string[],
    query: URLSearchParams,
  ): Promise<void> => {
    const [what, name, ...more] = rest;
    if (more.length > 0) throw notFound("such route");
    methods(req, ["GET"]);
    switch (what) {
      case undefined:
        sendJson(res, 200, {
          id: run.id,
          request: run.request,
          status: run.status,
          ...(run.summary ? { summary: run.summary } : {}),
          ...(run.error ? { error: run.error } : {}),
        });
        return;
      case "events":
        if (name !== undefined) break;
        streamEvents(req, res, run);
        return;
      case "events.jsonl":
        if (name !== undefined) break;
        sendText(
          res,
          200,
          "application/x-ndjson; charset=utf-8",
          run.jsonEvents.map((line) => `${line}\n`).join(""),
        );
        return;
      case "platforms": {
        if (name !== undefined) break;
        const value = query.get("scenario") ?? "";
        if (!/^\d{1,4}$/.test(value)) {
          throw new HttpError(
            "ERR_LAB_WEB_REQUEST",
            `Expected ?scenario=<number> but got ${JSON.stringify(value)}.`,
          );
        }
        const scenario = Number(value);
        if (!run.events.some((e) => e.scenario === scenario))
          throw notFound(`scenario ${scenario} in run ${run.id}`);
        const policy = policyOfScenario(run.events, scenario);
        sendJson(res, 200, { scenario, policy, platforms: policy ? renderPlatforms(policy) : [] });
        return;
      }
      case "pins":
        if (name !== undefined) break;
        sendJson(res, 200, listPins(run));
        return;
      case "files": {
        const files = runFiles(run);
        if (name === undefined) {
          sendJson(
            res,
            200,
            files.map((f) => ({
              name: f.name,
              description: f.description,
              size: Buffer.byteLength(f.content),
            })),
          );
          return;
        }
        const file = files.find((f) => f.name === name);
        if (!file)
          throw notFound(
            `file ${JSON.stringify(name)} in run ${run.id} (GET /api/runs/${run.id}/files lists them)`,
          );
        sendText(res, 200, file.contentType, file.content, {
          "content-disposition": `attachment; filename="${file.name}"`,
        });
        return;
      }
    }
    throw notFound("such route");
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!isAllowedHost(req.headers.host, port)) {
      throw new HttpError(
        "ERR_LAB_WEB_HOST",
        `Expected the Host 127.0.0.1:${port} or localhost:${port} but got ${JSON.stringify(req.headers.host ?? "")}. Open ${url}.`,
      );
    }
    if (closing) throw new HttpError("ERR_LAB_WEB_CLOSING", "The lab server is closing.");
    const target = req.url ?? "/";
    const queryAt = target.indexOf("?");
    const path = queryAt === -1 ? target : target.slice(0, queryAt);
    const query = new URLSearchParams(queryAt === -1 ? "" : target.slice(queryAt + 1));
    if (isCrossSiteRequest(req, path === "/" || path === "/index.html")) {
      throw new HttpError(
        "ERR_LAB_WEB_CROSS_SITE",
        `Expected a request from the lab's own page but the browser says another site's page made it (Sec-Fetch-Site: ${String(req.headers["sec-fetch-site"])}). Open ${url}.`,
      );
    }
    if (!path.startsWith("/")) throw notFound("such route");
    const segments = path.slice(1).split("/").map(decodeSegment);
    if (segments.some((s) => s === undefined)) throw notFound("such route");
    const [first, second, third, ...rest] = segments as string[];

    if (path === "/" || path === "/index.html") {
      methods(req, ["GET"]);
      const page = await readAsset(assetsDir, "index.html");
      if (!page) throw notFound(`page: ${assetsDir} has no index.html (build the client first)`);
      sendText(res, 200, page.contentType, page.body);
      return;
    }
    if (first === "assets" && second !== undefined && third === undefined) {
      methods(req, ["GET"]);
      const asset = await readAsset(assetsDir, second);
      if (!asset) throw notFound(`asset ${JSON.stringify(second)}`);
      sendText(res, 200, asset.contentType, asset.body);
      return;
    }
    if (first !== "api") throw notFound("such route");
    if (second === "lab" && third === undefined) {
      methods(req, ["GET"]);
      sendJson(res, 200, {
        scenarios: labScenarios.map((s) => ({
          id: s.id,
          name: s.name,
          title: s.title,
          proves: s.proves,
          expected: s.expected,
          whatIf: s.whatIf,
        })),
        runs: [...runs.values()].map((r) => ({ id: r.id, status: r.status })),
        defaultRun: "r1",
      });
      return;
    }
    if (second === "runs" && third === undefined) {
      methods(req, ["POST"]);
      const origin = req.headers.origin;
      if (origin !== undefined && !isAllowedHost(origin.replace(/^http:\/\//, ""), port)) {
        throw new HttpError(
          "ERR_LAB_WEB_HOST",
          `Expected requests from ${url} but got Origin ${JSON.stringify(origin)}.`,
        );
      }
      const request = parseRunRequest(await readJsonBody(req, bodyLimit));
      const running = [...runs.values()].find((r) => r.status === "running");
      if (running) {
        throw new HttpError(
          "ERR_LAB_WEB_BUSY",
          `Run ${running.id} is still going: one run at a time. Wait for its end event, then start the next.`,
        );
      }
      const run = startRun(request);
      sendJson(res, 201, { id: run.id });
      return;
    }
    if (second === "runs" && third !== undefined) {
      await routeRun(req, res, runOf(third), rest, query);
      return;
    }
    throw notFound("such route");
  };

  // Slow or stalled clients cannot hold a request open: headers within 10 s, the whole request within 20 s,
  // checked every second (Node checks only every 30 s by default, which would let a stalled client stay 30 s).
  const server = createServer(
    {
      headersTimeout: 10_000,
      requestTimeout: 20_000,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      route(req, res).catch((error: unknown) => sendError(res, error, onError));
    },
  );
  // As Node's own default answers: 408 for a request too slow to arrive, 431 for oversize headers, else 400.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    const status =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "408 Request Timeout"
        : error.code === "HPE_HEADER_OVERFLOW"
          ? "431 Request Header Fields Too Large"
          : "400 Bad Request";
    if (socket.writable && !socket.destroyed) {
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    } else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    process.off("exit", removeRootOnExit);
    await rm(root, { recursive: true, force: true });
    throw error;
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host === "::1" ? "[::1]" : host}:${port}/`;

  const close = (): Promise<void> => {
    closing ??= (async () => {
      options.signal?.removeEventListener("abort", onAbort);
      for (const run of runs.values()) if (run.status === "running") run.stop();
      await Promise.all([...runs.values()].map((r) => r.finished));
      for (const res of streams) res.end();
      streams.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await rm(root, { recursive: true, force: true });
      process.off("exit", removeRootOnExit);
    })();
    return closing;
  };
  const onAbort = (): void => {
    void close();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });

  startRun({ scenarios: labScenarios.map((s) => s.id) });
  return { url, port, dir: root, close };
}
