// Issue 12, class 7: whatever a caller passes as `policy` is validated. Before, an object whose `domains` was an
// array was trusted as an already normalized Policy: a missing or misspelled `mode` meant "not enforced", string pins
// crashed the handshake, and the checker shared the caller's object, so later changes reached it. The attacker is
// a server with a certificate for the pinned host from a CA the device trusts (an intercepting proxy's); the
// unpinned control shows that ordinary validation hands it the token. Each pinned client must then either refuse to
// be built (ERR_KEYPIN_POLICY naming the problem) or refuse the forged handshake, with the token never sent.
import assert from "node:assert/strict";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { get as httpsGet, type RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { type DomainPolicy, normalizeHost, type Policy, PolicyError, parsePolicy } from "@keypin/core";
import {
  createPinnedAgent,
  createPinnedDispatcher,
  type PinningOptions,
  pinnedTlsOptions,
} from "@keypin/node";
import {
  createChain,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  startHttpsServer,
  type TestChain,
  type TestServer,
} from "@keypin/testkit";
import { Agent, type Dispatcher, request as undiciRequest } from "undici";

const HOST = "api.keypin.test";
const TOKEN = "Bearer policy-input-secret";

let genuine: TestChain;
let attacker: TestChain;
/** The forging server: a certificate for HOST from a CA the device trusts, a key nobody pinned. */
let evil: TestServer;

const trusted = () => [genuine.root.pem, attacker.root.pem];
const connect = { lookup: lookupLocal };
const url = () => `https://${HOST}:${evil.port}/profile`;

before(async () => {
  genuine = await createChain("p256", [HOST], "policy-input genuine");
  attacker = await createChain("p256", [HOST], "policy-input attacker");
  evil = await startHttpsServer({ key: attacker.leaf.keyPem, cert: attacker.served });
});
after(async () => {
  await evil.close();
});

/** A normalized-looking entry pinning the genuine keys, with `mode` left for each test to set or leave out. */
function entry(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    domain: HOST,
    includeSubdomains: false,
    pins: [{ pin: genuine.leaf.pin }, { pin: genuine.root.pin, role: "backup" }],
    reportUris: [],
    ...extra,
  };
}

async function viaDispatcher(dispatcher: Dispatcher): Promise<number | string> {
  try {
    const res = await undiciRequest(url(), { dispatcher, headers: { authorization: TOKEN } });
    await res.body.text();
    return res.statusCode;
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  }
}

function viaAgent(agent: unknown): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsGet(
      url(),
      { agent: agent as RequestOptions["agent"], headers: { authorization: TOKEN } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", (error) => resolve(keypinCodeOf(error) ?? String(error)));
  });
}

/** A raw TLS client that writes the token once the handshake (and keypin's check) has passed. */
async function viaTls(options: ConnectionOptions): Promise<number | string> {
  const socket = tlsConnect({ ...options, host: HOST, port: evil.port, servername: HOST });
  try {
    await once(socket, "secureConnect");
    socket.end(
      `GET /profile HTTP/1.1\r\nhost: ${HOST}\r\nauthorization: ${TOKEN}\r\nconnection: close\r\n\r\n`,
    );
    let text = "";
    socket.setEncoding("utf8");
    for await (const chunk of socket) text += chunk;
    return Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  } finally {
    socket.destroy();
  }
}

type Client = "dispatcher" | "agent" | "tls";
const CLIENTS: Client[] = ["dispatcher", "agent", "tls"];

/** Builds the client from `policy` and makes one request to the forging server with the token. */
async function attempt(client: Client, policy: unknown, options: Partial<PinningOptions> = {}) {
  const pinning = {
    policy: policy as PinningOptions["policy"],
    ca: trusted(),
    connect,
    onWarning: () => {},
    ...options,
  };
  if (client === "dispatcher") {
    const d = createPinnedDispatcher(pinning);
    try {
      return await viaDispatcher(d);
    } finally {
      await d.close();
    }
  }
  if (client === "agent") {
    const agent = createPinnedAgent(pinning);
    try {
      return await viaAgent(agent);
    } finally {
      agent.destroy();
    }
  }
  return viaTls(pinnedTlsOptions(pinning));
}

function tokensStolen(): number {
  return evil.requests.filter((r) => r.headers.authorization === TOKEN).length;
}

/** The client refuses the forgery: a pin mismatch, and the forging server never saw the token. */
async function assertRefused(policy: unknown, options: Partial<PinningOptions> = {}): Promise<void> {
  for (const client of CLIENTS) {
    const stolen = tokensStolen();
    assert.equal(await attempt(client, policy, options), "ERR_KEYPIN_PIN_MISMATCH", client);
    assert.equal(tokensStolen(), stolen, `${client}: the forging server received the token`);
  }
}

/** Every client refuses to be built: a PolicyError (ERR_KEYPIN_POLICY) whose problems include `path`. */
function assertInvalid(policy: unknown, path: string, message?: RegExp): void {
  const make = [createPinnedDispatcher, createPinnedAgent, pinnedTlsOptions];
  for (const build of make) {
    assert.throws(
      () => build({ policy: policy as PinningOptions["policy"], ca: trusted(), connect }),
      (error: unknown) => {
        assert.ok(error instanceof PolicyError, String(error));
        assert.equal(error.code, "ERR_KEYPIN_POLICY");
        assert.ok(
          error.problems.some((p) => p.path === path),
          `${build.name}: no problem at ${path}: ${error.message}`,
        );
        if (message) assert.match(error.message, message);
        return true;
      },
    );
  }
}

describe("control: ordinary validation trusts the forging server", () => {
  test("an unpinned client, and a pinned one whose policy does not name the host, hand it the token", async () => {
    const plain = new Agent({ connect: { ca: trusted(), lookup: lookupLocal } });
    let stolen = tokensStolen();
    assert.equal(await viaDispatcher(plain), 200);
    assert.equal(tokensStolen(), stolen + 1);
    await plain.close();
    const elsewhere = { domains: [entry({ domain: "elsewhere.keypin.test", mode: "enforce" })] };
    for (const client of CLIENTS) {
      stolen = tokensStolen();
      assert.equal(await attempt(client, elsewhere), 200, client);
      assert.equal(tokensStolen(), stolen + 1, client);
    }
  });

  test("report-only, said explicitly, lets the request through: the forgery works where the policy allows it", async () => {
    for (const client of CLIENTS) {
      const stolen = tokensStolen();
      assert.equal(await attempt(client, { domains: [entry({ mode: "report-only" })] }), 200, client);
      assert.equal(tokensStolen(), stolen + 1, client);
    }
  });
});

describe("a policy object shaped like a normalized Policy is validated", () => {
  test("a missing mode enforces (it meant 'not enforced' before): every client refuses the forgery", async () => {
    await assertRefused({ domains: [entry()] });
    // An explicit `mode: undefined` is not "left out": an error that says to leave it out.
    assertInvalid({ domains: [entry({ mode: undefined })] }, "/domains/0/mode", /leave it out to enforce/);
  });

  test("a misspelled mode is an error naming it, for every client", () => {
    for (const mode of [
      "enforced",
      "Enforce",
      "ENFORCE",
      "enforce ",
      "report_only",
      "reportOnly",
      "",
      null,
      1,
      true,
    ]) {
      assertInvalid(
        { domains: [entry({ mode })] },
        "/domains/0/mode",
        /"mode" must be "enforce" or "report-only"/,
      );
    }
    assertInvalid({ domains: [entry({ mode: "enforced" })] }, "/domains/0/mode", /did you mean "enforce"\?/);
  });

  test("pins as strings (they crashed the handshake) are parsed, and the forgery is refused", async () => {
    await assertRefused({
      domains: [entry({ pins: [genuine.leaf.pin, genuine.root.pin], mode: "enforce" })],
    });
    const bare = [genuine.leaf.pin.slice(7), `pin-sha256="${genuine.root.pin.slice(7)}"`];
    await assertRefused({ domains: [entry({ pins: bare })] });
    assertInvalid({ domains: [entry({ pins: ["sha256/not-a-pin"] })] }, "/domains/0/pins/0");
    assertInvalid({ domains: [entry({ pins: [{ pin: 7 }] })] }, "/domains/0/pins/0/pin");
  });

  test("a frozen policy is read like any other", async () => {
    const pins = Object.freeze([Object.freeze({ pin: genuine.leaf.pin })]);
    await assertRefused(Object.freeze({ domains: Object.freeze([Object.freeze(entry({ pins }))]) }));
    assertInvalid(
      Object.freeze({ domains: Object.freeze([Object.freeze(entry({ mode: "Enforce" }))]) }),
      "/domains/0/mode",
    );
  });

  test("getters that change their value after validation do not reach the checker: it holds what it checked", async () => {
    for (const client of CLIENTS) {
      let modeReads = 0;
      let pinReads = 0;
      const first = [{ pin: genuine.leaf.pin }];
      const later = [{ pin: attacker.leaf.pin }];
      const tricky = {
        domains: [
          {
            ...entry(),
            get mode() {
              return modeReads++ === 0 ? "enforce" : "report-only";
            },
            get pins() {
              return pinReads++ === 0 ? first : later;
            },
          },
        ],
      };
      const stolen = tokensStolen();
      assert.equal(await attempt(client, tricky), "ERR_KEYPIN_PIN_MISMATCH", client);
      assert.equal(tokensStolen(), stolen, client);
      assert.equal(modeReads, 1, `${client}: mode read ${modeReads} times`);
      assert.equal(pinReads, 1, `${client}: pins read ${pinReads} times`);
    }
  });

  test("a getter or proxy that throws is a policy error, not a crash", () => {
    assertInvalid(
      {
        get domains(): unknown {
          throw new Error("surprise");
        },
      },
      "",
      /reading the policy threw/,
    );
    const { proxy, revoke } = Proxy.revocable(entry(), {});
    revoke();
    assertInvalid({ domains: [proxy] }, "");
  });

  test("a polluted Object.prototype (mode, includeSubdomains, expires) changes nothing: the forgery is refused", async () => {
    const proto = Object.prototype as Record<string, unknown>;
    const polluted = { mode: "report-only", includeSubdomains: true, expires: "2000-01-01" };
    const { mode: _mode, ...noMode } = entry();
    try {
      Object.assign(proto, polluted);
      // An inherited "report-only", or an inherited expired date, would let the request through.
      await assertRefused({ domains: [noMode] });
      await assertRefused(policyOf({ [HOST]: [genuine.leaf.pin, genuine.root.pin] }));
    } finally {
      for (const key of Object.keys(polluted)) delete proto[key];
    }
  });

  test("holes in a list are an error, not a skipped entry", () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the attack
    assertInvalid({ domains: [, entry()] }, "/domains", /empty slot at index 0/);
    // biome-ignore lint/suspicious/noSparseArray: the hole is the attack
    assertInvalid({ domains: [entry({ pins: [, { pin: genuine.leaf.pin }] })] }, "/domains/0/pins");
    const sparse: unknown[] = [];
    sparse[3] = entry();
    assertInvalid({ domains: sparse }, "/domains");
  });

  test("unknown fields are errors at every level", () => {
    assertInvalid({ domains: [entry({ enforce: true })] }, "/domains/0/enforce");
    assertInvalid({ domains: [entry({ Mode: "enforce" })] }, "/domains/0/Mode", /did you mean "mode"/);
    assertInvalid({ domains: [entry()], strict: true }, "/strict");
    assertInvalid(
      { domains: [entry({ pins: [{ pin: genuine.leaf.pin, enforced: true }] })] },
      "/domains/0/pins/0/enforced",
    );
  });

  test("dates that are not yyyy-MM-dd strings are errors: NaN, Infinity, Date objects, numbers", () => {
    for (const expires of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -Infinity,
      new Date(Number.NaN),
      new Date("2099-01-01"),
      4102444800000,
      "2099-02-30",
    ]) {
      assertInvalid({ domains: [entry({ expires })] }, "/domains/0/expires");
    }
  });

  test("an expires date in the past is valid and, as documented, stops pinning: the warning says so", async () => {
    // Expiry fails open on purpose (like Android and TrustKit), so an expired pin set never locks users out;
    // a policy object is held to exactly that rule, no more and no less.
    const warnings: string[] = [];
    assert.equal(
      await attempt(
        "dispatcher",
        { domains: [entry({ expires: "2001-01-01" })] },
        {
          onWarning: (m) => warnings.push(m),
        },
      ),
      200,
    );
    assert.ok(
      warnings.some((w) => w.includes(`pins for ${HOST} expired on 2001-01-01`)),
      warnings.join("\n"),
    );
  });

  test("two entries for one host in different spellings are an error, whichever form the policy takes", () => {
    const weak = { pins: [{ pin: attacker.leaf.pin }], mode: "report-only" };
    for (const spelling of [HOST.toUpperCase(), `${HOST}.`, `Api.Keypin.Test.`]) {
      assertInvalid(
        { domains: [entry(), { ...entry(weak), domain: spelling }] },
        "/domains/1",
        /is the same host as/,
      );
      assertInvalid(
        policyOf({
          [HOST]: [genuine.leaf.pin],
          [spelling]: { pins: [attacker.leaf.pin], mode: "report-only" },
        }),
        `/domains/${spelling}`,
      );
    }
    for (const [a, b] of [
      ["::1", "[::1]"],
      ["::1", "0:0:0:0:0:0:0:1"],
      ["2001:db8::1", "2001:DB8::0:1"],
      ["127.0.0.1", "::ffff:127.0.0.1"],
    ] as const) {
      const policy = { domains: [entry({ domain: a }), entry({ domain: b })] };
      if (normalizeHost(a) !== normalizeHost(b)) {
        // One host is what normalizeHost says is one host; this pair is a duplicate only where it maps them together.
        assert.doesNotThrow(() => pinnedTlsOptions({ policy: policy as unknown as Policy, ca: trusted() }));
        continue;
      }
      assertInvalid(policy, "/domains/1", /is the same host as/);
    }
  });

  test("a normalized domain must be a valid host: a loose IPv4 spelling or a Unicode name is refused with its fix", () => {
    assertInvalid({ domains: [entry({ domain: "0x7f.1" })] }, "/domains/0/domain");
    assertInvalid(
      { domains: [entry({ domain: "bücher.keypin.test" })] },
      "/domains/0/domain",
      /xn--bcher-kva/,
    );
    assertInvalid({ domains: [entry({ domain: 42 })] }, "/domains/0/domain");
  });
});

describe("the checker holds its own copy of the policy", () => {
  test("a policy from parsePolicy changed after the client is built changes nothing", async () => {
    for (const client of CLIENTS) {
      const { policy } = parsePolicy(policyOf({ [HOST]: [genuine.leaf.pin, genuine.root.pin] }));
      const pinning = { policy, ca: trusted(), connect, onWarning: () => {} };
      const built =
        client === "dispatcher"
          ? createPinnedDispatcher(pinning)
          : client === "agent"
            ? createPinnedAgent(pinning)
            : pinnedTlsOptions(pinning);
      const d = policy.domains[0] as DomainPolicy;
      d.mode = "report-only";
      d.pins.push({ pin: attacker.leaf.pin });
      d.expires = "2000-01-01";
      policy.domains.unshift({ ...d, domain: "other.keypin.test" });
      const stolen = tokensStolen();
      const outcome =
        client === "dispatcher"
          ? await viaDispatcher(built as Dispatcher)
          : client === "agent"
            ? await viaAgent(built)
            : await viaTls(built as ConnectionOptions);
      if (client === "dispatcher") await (built as Dispatcher).close();
      if (client === "agent") (built as { destroy(): void }).destroy();
      assert.equal(outcome, "ERR_KEYPIN_PIN_MISMATCH", client);
      assert.equal(tokensStolen(), stolen, client);
    }
  });
});

describe("policy files nested too deeply", () => {
  test("100,000 brackets in keypin.json give ERR_KEYPIN_POLICY with line and column, for every client", () => {
    const path = join(tmpdir(), `keypin-deep-${process.pid}.json`);
    // Line 2 is `  "domains": ` (13 characters) then brackets: with the document's `{`, the 64th `[` is the 65th
    // level, at column 13 + 64 = 77.
    writeFileSync(path, `{\n  "domains": ${"[".repeat(100_000)}`);
    for (const build of [createPinnedDispatcher, createPinnedAgent, pinnedTlsOptions]) {
      assert.throws(
        () => build({ policy: path, ca: trusted() }),
        (error: unknown) =>
          keypinCodeOf(error) === "ERR_KEYPIN_POLICY" &&
          /:2:77: brackets nested deeper than 64 levels/.test((error as Error).message),
      );
    }
  });
});
