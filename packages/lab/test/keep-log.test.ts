// The `--keep` proxy log, read against curl's own verdict: curl's exit code says whether it refused the
// forged certificate, and the log's words must agree with it (a completed handshake is not acceptance).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type LabEvent, type LabKeepInfo, type LabStepEvent, runLab } from "@keypin/lab";
import { curl } from "@keypin/testkit";

/** A `--keep` run of scenario 1 in this process, with a way to wait for the live steps it emits. */
async function keptLab(): Promise<{
  info: LabKeepInfo;
  events: LabEvent[];
  waitFor: (predicate: (event: LabEvent, index: number) => boolean) => Promise<LabStepEvent>;
  stop: () => Promise<void>;
}> {
  const events: LabEvent[] = [];
  const waiters: {
    predicate: (event: LabEvent, index: number) => boolean;
    resolve: (e: LabStepEvent) => void;
  }[] = [];
  const controller = new AbortController();
  let ended: (() => void) | undefined;
  let failed: ((error: unknown) => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    ended = resolve;
    failed = reject;
  });
  const done = runLab({
    scenarios: [1],
    keep: true,
    signal: controller.signal,
    onEvent: (event) => {
      events.push(event);
      const index = events.length - 1;
      if (event.type === "summary") ended?.();
      for (const waiter of [...waiters]) {
        if (waiter.predicate(event, index)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(event as LabStepEvent);
        }
      }
    },
  });
  done.catch((error: unknown) => failed?.(error));
  await ready;
  const keep = events.find((e): e is LabStepEvent => e.type === "step" && e.step === "keep");
  assert.ok(keep, "the run emits its keep step");
  return {
    info: keep.data as unknown as LabKeepInfo,
    events,
    waitFor: (predicate) =>
      new Promise((resolve) => {
        const index = events.findIndex(predicate);
        if (index !== -1) resolve(events[index] as LabStepEvent);
        else waiters.push({ predicate, resolve });
      }),
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

type ProxyStep = LabStepEvent & { data: { session?: number; kind?: string } };

/** The proxy's live steps from `from` on, for the one session a single curl opened. */
function sessionSteps(events: LabEvent[], from: number): ProxyStep[] {
  const steps = events
    .slice(from)
    .filter((e): e is ProxyStep => e.type === "step" && e.actor === "proxy" && e.scenario === null);
  const sessions = new Set(steps.map((s) => s.data.session));
  assert.equal(sessions.size, 1, `one curl, one proxy session: ${JSON.stringify(steps.map((s) => s.data))}`);
  return steps;
}

const kind = (steps: ProxyStep[], k: string): ProxyStep | undefined => steps.find((s) => s.data.kind === k);

describe("keypin lab --keep: the proxy's live log", () => {
  it("says a pinned curl that completed the handshake and hung up refused the forgery; the unpinned control accepted it and sent its bytes", {
    timeout: 30_000,
  }, async () => {
    const lab = await keptLab();
    try {
      const closedAfter = (from: number) =>
        lab.waitFor(
          (e, index) =>
            index >= from && e.type === "step" && e.scenario === null && e.data["kind"] === "closed",
        );

      // The control: no pin, the device trusts the attacker's CA. curl gets the profile through the proxy.
      let from = lab.events.length;
      const control = await curl(lab.info.curl.throughProxy.slice(1));
      assert.equal(control.code, 0, control.stderr);
      assert.equal(JSON.parse(control.stdout).name, "Sam Example");
      await closedAfter(from);
      const accepted = sessionSteps(lab.events, from);
      const handshake = kind(accepted, "handshake");
      assert.ok(handshake, "the control completed the handshake");
      assert.match(handshake.text, /^TLS handshake completed with the forged certificate \(TLSv1\.[23]\)$/);
      const acceptedClose = kind(accepted, "closed")!;
      const bytes = Number(acceptedClose.data["appBytes"]);
      assert.ok(bytes > 0, "the proxy read the control's request");
      assert.equal(
        acceptedClose.text,
        `tunnel closed; the client accepted the forged certificate and sent ${bytes} bytes of application data`,
      );
      assert.ok(kind(accepted, "request")?.text.includes(lab.info.token), "and the proxy logged its token");

      // The same request pinned to the real leaf key: curl finishes the handshake, sees the forged key, exits 90.
      from = lab.events.length;
      const pinned = await curl(lab.info.curl.throughProxyPinned.slice(1));
      assert.equal(
        pinned.code,
        90,
        `curl refuses the forged key (CURLE_SSL_PINNEDPUBKEYNOTMATCH): ${pinned.stderr}`,
      );
      await closedAfter(from);
      const refused = sessionSteps(lab.events, from);
      const pinnedHandshake = kind(refused, "handshake");
      assert.ok(pinnedHandshake, "curl --pinnedpubkey completes the TLS handshake before it checks the key");
      assert.doesNotMatch(pinnedHandshake.text, /accept/, "a completed handshake is not acceptance");
      const refusedClose = kind(refused, "closed")!;
      assert.equal(refusedClose.data["appBytes"], 0);
      assert.equal(refusedClose.data["handshake"], true);
      assert.match(
        refusedClose.text,
        /closed without sending a byte: it refused the forged certificate after the handshake/,
      );
      assert.doesNotMatch(refusedClose.text, /accepted/);
      assert.equal(kind(refused, "request"), undefined, "no request in the log");
      assert.ok(!JSON.stringify(refused).includes(lab.info.token), "and no token");
      for (const step of refused) assert.doesNotMatch(step.text, /accepted/, step.text);

      // A device without the attacker's CA: curl refuses during the handshake (exit 60), and the log says so.
      from = lab.events.length;
      const untrusted = await curl([
        "--proxy",
        lab.info.proxy,
        "--cacert",
        lab.info.files.labRoot,
        lab.info.backend.origin,
      ]);
      assert.equal(untrusted.code, 60, `curl does not trust the forged chain: ${untrusted.stderr}`);
      await closedAfter(from);
      const early = sessionSteps(lab.events, from);
      assert.equal(kind(early, "handshake"), undefined);
      assert.match(
        kind(early, "handshake-failed")!.text,
        /^the client refused the forged certificate during the TLS handshake \(/,
      );
      assert.equal(
        kind(early, "closed")!.text,
        "tunnel closed before the TLS handshake completed; 0 bytes of application data read from the client",
      );
    } finally {
      await lab.stop();
    }
  });
});
