// The report sender against report servers that never answer, or answer a byte at a time, on 127.0.0.1: a
// forging network that varies its leaf makes every failure a new report, so the sender itself must bound what it
// holds open (review: 30 failures held 30 connections open for as long as the server dripped bytes).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { after, describe, test } from "node:test";
import type { PinFailureReport } from "@keypin/core";
import {
  MAX_REPORTS_IN_FLIGHT,
  MAX_REPORTS_IN_FLIGHT_PER_ORIGIN,
  ReportSender,
  reportsInFlight,
} from "../src/report-sender.js";

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** A TCP server that records each connection and does with it what `behave` says. */
async function reportServer(behave: (socket: Socket) => void) {
  const sockets: Socket[] = [];
  const closed: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("close", () => closed.push(socket));
    socket.on("error", () => {});
    behave(socket);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push(server);
  const { port } = server.address() as { port: number };
  return { uri: `http://127.0.0.1:${port}/report`, sockets, closed };
}

/** A report unlike any other (the sender deduplicates by content). */
function freshReport(): PinFailureReport {
  return { hostname: `${randomUUID()}.keypin.test`, port: 443 } as unknown as PinFailureReport;
}

const until = async (what: string, done: () => boolean, ms = 8000) => {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("the report sender bounds what a report server can hold", () => {
  test("a server that never answers gets at most 2 connections per origin and 4 in all, each closed at the deadline", async () => {
    // Each reads the request (so that it sees the client leave) and never answers.
    const silent: Awaited<ReturnType<typeof reportServer>>[] = [];
    for (let i = 0; i < 3; i++) silent.push(await reportServer((socket) => socket.resume()));
    const warnings: string[] = [];
    let received = 0;
    const sender = new ReportSender({
      onWarning: (m) => warnings.push(m),
      onReport: () => received++,
      timeoutMs: 1500,
    });
    for (let i = 0; i < 10; i++)
      for (const server of silent) assert.equal(sender.submit(freshReport(), [server.uri]), true);
    await until(
      "connections",
      () => silent.reduce((n, s) => n + s.sockets.length, 0) >= MAX_REPORTS_IN_FLIGHT,
    );
    await new Promise((r) => setTimeout(r, 200));
    const opened = silent.map((s) => s.sockets.length);
    assert.equal(received, 30, "onReport still receives every report");
    assert.ok(
      opened.every((n) => n <= MAX_REPORTS_IN_FLIGHT_PER_ORIGIN),
      `per origin: ${opened}`,
    );
    assert.equal(
      opened.reduce((a, b) => a + b, 0),
      MAX_REPORTS_IN_FLIGHT,
    );
    assert.equal(warnings.filter((w) => /dropped/.test(w)).length, 1, "one warning for a burst of drops");
    assert.ok(
      !warnings.some((w) => /keypin\.test/.test(w)),
      "a warning names the report server, not the report",
    );
    await until("the deadline to close them", () =>
      silent.every((s) => s.closed.length === s.sockets.length),
    );
    await until("nothing in flight", () => reportsInFlight() === 0);
    assert.ok(warnings.some((w) => /no complete answer within 1500 ms/.test(w)));
  });

  test("a server that drips its body a byte at a time is left as soon as its status line arrives", async () => {
    const timers: NodeJS.Timeout[] = [];
    const drip = await reportServer((socket) => {
      socket.once("data", () => {
        socket.write("HTTP/1.1 201 Created\r\nContent-Length: 1000000\r\n\r\n");
        timers.push(setInterval(() => socket.write("x"), 50));
      });
    });
    const warnings: string[] = [];
    const sender = new ReportSender({ onWarning: (m) => warnings.push(m), timeoutMs: 60_000 });
    sender.submit(freshReport(), [drip.uri]);
    await until("the sender to close the connection", () => drip.closed.length === 1);
    for (const timer of timers) clearInterval(timer);
    await until("nothing in flight", () => reportsInFlight() === 0);
    assert.deepEqual(warnings, [], "a 201 is a delivered report");
  });
});
