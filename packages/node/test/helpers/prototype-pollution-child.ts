// Run by sessions.test.ts in a child process: it pollutes Object.prototype (which must not leak into the test runner)
// with a TLS session from an unpinned handshake with the attacker, a secure context trusting the attacker's CA, a
// checkServerIdentity that accepts anything and rejectUnauthorized: false, one at a time. Prints one JSON line: for
// each client, the status code it got or the keypin error code it failed with.
import { once } from "node:events";
import { connect as http2Connect } from "node:http2";
import { Agent as HttpsAgent, get as httpsGet, type RequestOptions } from "node:https";
import { createSecureContext, connect as tlsConnect } from "node:tls";
import { createPinnedAgent, createPinnedDispatcher, pinnedTlsOptions } from "@keypin/node";
import { keypinCodeOf, lookupLocal, startConnectProxy } from "@keypin/testkit";
import { type Dispatcher, request as undiciRequest } from "undici";

const port = Number(process.env["KP_PORT"]);
const genuineRoot = process.env["KP_GENUINE_ROOT"] ?? "";
const attackerRoot = process.env["KP_ATTACKER_ROOT"] ?? "";
const pins = JSON.parse(process.env["KP_PINS"] ?? "[]") as string[];
const token = process.env["KP_TOKEN"] ?? "";
const host = "api.keypin.test";
const url = `https://${host}:${port}/`;
const policy = { domains: { [host]: { pins } } };
const proto = Object.prototype as Record<string, unknown>;
const result: Record<string, unknown> = {};

const outcome = (error: unknown): string =>
  keypinCodeOf(error) ?? (error as { code?: string }).code ?? String(error);

function viaAgent(agent: HttpsAgent): Promise<number | string> {
  return new Promise((resolve) => {
    const options: RequestOptions = {
      agent,
      lookup: lookupLocal as never,
      headers: { authorization: token },
    };
    const req = httpsGet(url, options, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", (error) => resolve(outcome(error)));
  });
}

async function viaUndici(dispatcher: Dispatcher): Promise<number | string> {
  try {
    const res = await undiciRequest(url, { dispatcher, headers: { authorization: token } });
    await res.body.text();
    return res.statusCode;
  } catch (error) {
    return outcome(error);
  } finally {
    await dispatcher.close();
  }
}

async function viaTls(pinned: object): Promise<string> {
  const socket = tlsConnect({ host, port, ...pinned, lookup: lookupLocal });
  try {
    await once(socket, "secureConnect");
    return "connected";
  } catch (error) {
    return outcome(error);
  } finally {
    socket.destroy();
  }
}

async function viaHttp2(pinned: object): Promise<string> {
  const session = http2Connect(url, { ...pinned, lookup: lookupLocal });
  session.on("error", () => {});
  try {
    await once(session, "connect");
    return "connected";
  } catch (error) {
    return outcome(error);
  } finally {
    session.destroy();
  }
}

// Some other code in the process (unpinned, trusting the attacker's CA) talked to the attacker's server.
const first = tlsConnect({ host: "127.0.0.1", port, servername: host, ca: [attackerRoot] });
const [unpinnedSession] = (await once(first, "session")) as [Buffer];
first.destroy();
const proxy = await startConnectProxy();

const pollutions: Record<string, unknown> = {
  Session: unpinnedSession,
  SecureContext: createSecureContext({ ca: attackerRoot }),
  CheckServerIdentity: () => undefined,
  RejectUnauthorized: false,
};
for (const [kind, value] of Object.entries(pollutions)) {
  const key = kind[0]!.toLowerCase() + kind.slice(1);
  // The pinned clients are made before the pollution (it comes later, from some vulnerable merge at run time). Each
  // trusts the genuine root and the attacker's CA: the attacker's certificate passes ordinary validation and must
  // fail on the pins.
  const anchors = [genuineRoot, attackerRoot];
  const dispatcher = createPinnedDispatcher({ policy, ca: anchors, connect: { lookup: lookupLocal } });
  const proxied = createPinnedDispatcher({ policy, ca: anchors, proxy: proxy.url });
  const agent = createPinnedAgent({ policy, ca: anchors, connect: { lookup: lookupLocal } });
  const tlsOptions = pinnedTlsOptions({ policy, ca: anchors });
  proto[key] = value;
  try {
    if (kind === "Session" || kind === "SecureContext") {
      // An unpinned client that trusts only the genuine root.
      result[`control${kind}`] = await viaAgent(new HttpsAgent({ ca: genuineRoot }));
    }
    result[`dispatcher${kind}`] = await viaUndici(dispatcher);
    result[`proxyDispatcher${kind}`] = await viaUndici(proxied);
    result[`agent${kind}`] = await viaAgent(agent);
    result[`tlsOptions${kind}`] = await viaTls(tlsOptions);
    result[`http2${kind}`] = await viaHttp2(tlsOptions);
    // Made while the prototype is polluted: refused as options, or pinned.
    try {
      result[`lateDispatcher${kind}`] = await viaUndici(
        createPinnedDispatcher({ policy, ca: anchors, connect: { lookup: lookupLocal } }),
      );
    } catch (error) {
      result[`lateDispatcher${kind}`] = outcome(error);
    }
  } catch (error) {
    result[`error${kind}`] = String(error);
  } finally {
    delete proto[key];
    agent.destroy();
  }
}
await proxy.close();
console.log(JSON.stringify(result));
