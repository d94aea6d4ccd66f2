// Test helpers: raw HTTP requests (any Host, any method, any bytes), and a server-sent events reader.
import { request } from "node:http";
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with node:http (which, unlike fetch, sends the Host header it is given). */
export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; path?: string } = {},
): Promise<RawResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        method: options.method ?? "GET",
        path: options.path ?? `${target.pathname}${target.search}`,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Sends bytes on a fresh TCP connection and resolves with everything read until the server closes it. */
export function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let out = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      out += chunk;
    });
    socket.on("end", () => resolve(out));
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
    socket.write(bytes);
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** One server-sent event. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/** Parses a text/event-stream body (complete events only). */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split("\n\n")) {
    let id: string | undefined;
    let event = "message";
    const data: string[] = [];
    let any = false;
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") {
        data.push(value);
        any = true;
      }
    }
    if (any) events.push({ id, event, data: data.join("\n") });
  }
  return events;
}

/**
 * Reads an event stream with fetch until `stop(events)` says so (or the stream ends); then aborts it.
 * Resolves with the complete events read.
 */
export async function readSse(
  url: string,
  options: { lastEventId?: string; stop?: (events: SseEvent[]) => boolean } = {},
): Promise<{ events: SseEvent[]; ended: boolean; status: number; contentType: string | null }> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: options.lastEventId === undefined ? {} : { "last-event-id": options.lastEventId },
    signal: controller.signal,
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      text += value;
      const complete = text.slice(0, text.lastIndexOf("\n\n") + 2);
      if (options.stop?.(parseSse(complete))) break;
    }
  } finally {
    controller.abort();
    await reader.cancel().catch(() => {});
  }
  return {
    events: parseSse(text.slice(0, text.lastIndexOf("\n\n") + 2)),
    ended,
    status: response.status,
    contentType: response.headers.get("content-type"),
  };
}
