// Run by handshake-faults.test.ts in a child process, so that a fault that ends the process shows as an exit code.
// KP_MODE=pinned: each pinned client (createPinnedDispatcher + undici fetch, createPinnedAgent + https.get,
// pinnedTlsOptions + tls.connect) connects to the server twice, once pinning KP_PINS and once pinning a key that
// exists nowhere, with listeners that record and (KP_THROW) throw; an unpinned undici client is the control. It
// prints one `RESULT {…}` line and exits by itself. KP_MODE=naive: a plain tls.connect whose own
// checkServerIdentity throws, as a strict certificate parser would on what it cannot read; it prints a line only
// if the process survives.
import { get as httpsGet } from "node:https";
import { connect as tlsConnect } from "node:tls";
import {
  createPinnedAgent,
  createPinnedDispatcher,
  type PinningOptions,
  pinnedTlsOptions,
} from "@keypin/node";
import { keypinCodeOf, lookupLocal, unrelatedPin } from "@keypin/testkit";
import { Agent, fetch } from "undici";

const host = process.env["KP_HOST"] ?? "api.keypin.test";
const port = Number(process.env["KP_PORT"]);
const ca = process.env["KP_CA"] ?? "";
const rightPins = JSON.parse(process.env["KP_PINS"] ?? "[]") as string[];
const throwKind = process.env["KP_THROW"] ?? "";

/** What a listener throws, by KP_THROW. */
function thrown(): unknown {
  switch (throwKind) {
    case "error":
      return new Error("listener failed");
    case "string":
      return "listener failed (a string)";
    case "null":
      return null;
    case "message-getter": {
      const error = new Error("x");
      Object.defineProperty(error, "message", {
        get() {
          throw new Error("the message getter throws too");
        },
      });
      return error;
    }
    case "no-prototype":
      return Object.create(null); // String() of it throws a TypeError
    default:
      return undefined;
  }
}

interface Outcome {
  outcome: string;
  verdicts: { verdict: string; pin?: string }[];
  reports: number;
  warnings: number;
  chainPins?: string[];
  /** An UntrustedChainError's reason and the served certificate it names. */
  reason?: string;
  hiddenBy?: string;
}

function options(pins: string[], log: Outcome): PinningOptions {
  const listen = (fn: () => void) => () => {
    fn();
    if (throwKind) throw thrown();
  };
  return {
    policy: { domains: { [host]: { pins, reportUris: ["http://127.0.0.1:9/report"] } } },
    ca,
    connect: { lookup: lookupLocal },
    reporting: { send: false },
    onVerdict: (verdict) =>
      listen(() => {
        log.verdicts.push({
          verdict: verdict.verdict,
          ...(verdict.verdict === "pinned" ? { pin: verdict.matched.pin } : {}),
        });
      })(),
    onReport: () => listen(() => log.reports++)(),
    onWarning: () => listen(() => log.warnings++)(),
  };
}

function codeOf(error: unknown, log: Outcome): string {
  const chain = (error as { cause?: { chainPins?: { pin: string }[] } }).cause?.chainPins;
  const own = (error as { chainPins?: { pin: string }[] }).chainPins;
  const pins = own ?? chain;
  if (pins) log.chainPins = pins.map((entry) => entry.pin);
  const untrusted = (error as { cause?: { reason?: string; hiddenBy?: { subject: string } } }).cause ?? error;
  const { reason, hiddenBy } = untrusted as { reason?: string; hiddenBy?: { subject: string } };
  if (typeof reason === "string") log.reason = reason;
  if (hiddenBy) log.hiddenBy = hiddenBy.subject;
  return (
    keypinCodeOf(error) ??
    (error as { code?: string }).code ??
    (error as { cause?: { code?: string } }).cause?.code ??
    String(error)
  );
}

async function viaDispatcher(pins: string[]): Promise<Outcome> {
  const log: Outcome = { outcome: "", verdicts: [], reports: 0, warnings: 0 };
  const dispatcher = createPinnedDispatcher(options(pins, log));
  try {
    const res = await fetch(`https://${host}:${port}/`, { dispatcher });
    await res.arrayBuffer();
    log.outcome = `status ${res.status}`;
  } catch (error) {
    log.outcome = codeOf(error, log);
  } finally {
    await dispatcher.close();
  }
  return log;
}

function viaAgent(pins: string[]): Promise<Outcome> {
  const log: Outcome = { outcome: "", verdicts: [], reports: 0, warnings: 0 };
  const agent = createPinnedAgent(options(pins, log));
  return new Promise((resolve) => {
    const done = (outcome: string) => {
      log.outcome = outcome;
      agent.destroy();
      resolve(log);
    };
    httpsGet({ host, port, path: "/", agent, lookup: lookupLocal }, (res) => {
      res.resume();
      res.on("end", () => done(`status ${res.statusCode}`));
    }).on("error", (error) => done(codeOf(error, log)));
  });
}

function viaTls(pins: string[]): Promise<Outcome> {
  const log: Outcome = { outcome: "", verdicts: [], reports: 0, warnings: 0 };
  const tlsOptions = pinnedTlsOptions(options(pins, log));
  return new Promise((resolve) => {
    const socket = tlsConnect({ ...tlsOptions, host, port, servername: host, lookup: lookupLocal });
    socket.on("secureConnect", () => {
      log.outcome = "connected";
      socket.end();
    });
    socket.on("error", (error) => {
      log.outcome = codeOf(error, log);
    });
    socket.on("close", () => resolve(log));
  });
}

async function unpinned(): Promise<string> {
  const dispatcher = new Agent({ connect: { ca, lookup: lookupLocal } });
  try {
    const res = await fetch(`https://${host}:${port}/`, { dispatcher });
    await res.arrayBuffer();
    return `status ${res.status}`;
  } catch (error) {
    return codeOf(error, { outcome: "", verdicts: [], reports: 0, warnings: 0 });
  } finally {
    await dispatcher.close();
  }
}

if (process.env["KP_MODE"] === "naive") {
  const socket = tlsConnect({
    host,
    port,
    servername: host,
    ca,
    lookup: lookupLocal,
    // What a hand-written pin check does when its certificate parser meets what it cannot read: it throws.
    checkServerIdentity: (_name, cert) => {
      if (/IP Address:(?![\d:a-fA-F])/.test(cert.subjectaltname ?? ""))
        throw new Error(`cannot read the IP address SAN in "${cert.subjectaltname}"`);
      return undefined;
    },
  });
  socket.on("secureConnect", () => socket.end());
  socket.on("error", () => {});
  socket.on("close", () => console.log(`RESULT ${JSON.stringify({ survived: true })}`));
} else {
  const result = {
    unpinned: await unpinned(),
    dispatcher: { right: await viaDispatcher(rightPins), wrong: await viaDispatcher([unrelatedPin()]) },
    agent: { right: await viaAgent(rightPins), wrong: await viaAgent([unrelatedPin()]) },
    tls: { right: await viaTls(rightPins), wrong: await viaTls([unrelatedPin()]) },
  };
  // Reports are handed to onReport in the background: let them run before reporting what happened.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 20));
  console.log(`RESULT ${JSON.stringify(result)}`);
}
