// What several scenarios share: playing an attempt, the lab's pin set, the device's set-up.
import type { PolicyFile } from "@keypin/core";
import type { LabCast } from "../cast.js";
import { type Attempt, type AttemptRequest, attemptRequest } from "./attempt.js";
import type { ScenarioContext } from "./definition.js";
import { narrateAttempt } from "./narrate-attempt.js";

/**
 * Attempts one request and emits its narration: every value shown comes from what the app got back, the
 * proxy's own log and counter, and the backend's own counter.
 *
 * @example
 * return (await attempt(ctx, { who: "The app", policy: undefined, viaProxy: true })).observation;
 */
export async function attempt(ctx: ScenarioContext, request: AttemptRequest): Promise<Attempt> {
  const result = await attemptRequest(ctx.cast, request, { onKeylog: ctx.onKeylog });
  for (const step of narrateAttempt(result)) ctx.step(step);
  return result;
}

/**
 * The pinned app's pin set: the lab CA intermediate's key and a spare key.
 *
 * @example
 * const policy = pinnedPolicy(ctx.cast, { expires: isoDay(-30) });
 */
export function pinnedPolicy(cast: LabCast, options?: { expires?: string }): PolicyFile {
  return {
    domains: {
      [cast.host]: {
        pins: [
          {
            pin: cast.pins.intermediate,
            role: "intermediate",
            label: "Lab Public CA R1 (our CA's intermediate)",
          },
          { pin: cast.pins.backup, role: "backup", label: "spare key, kept offline" },
        ],
        ...(options?.expires ? { expires: options.expires } : {}),
      },
    },
  };
}

/**
 * The date `offsetDays` from today, `YYYY-MM-DD`.
 *
 * @example
 * isoDay(-30); // a month ago
 */
export function isoDay(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

/**
 * The user installs the attacker's CA on the device (and the step says so).
 *
 * @example
 * cleanDevice(ctx);
 * installAttackerCa(ctx);
 */
export function installAttackerCa(ctx: ScenarioContext): void {
  const { cast } = ctx;
  cast.device.install(cast.attackerCa);
  ctx.step({
    actor: "device",
    step: "setup",
    text:
      `The user installs the attacker's CA (${cast.attackerCa.subject}) on the device, as a profile or a ` +
      "debugging proxy's certificate. The device now trusts: " +
      `${cast.device.subjects().join("; ")}.`,
    route: [],
    data: { installed: cast.attackerCa.subject, pin: cast.pins.attacker, store: cast.device.subjects() },
  });
}

/**
 * The device as it came: the attacker's CA removed.
 *
 * @example
 * cleanDevice(ctx);
 */
export function cleanDevice(ctx: ScenarioContext): void {
  ctx.cast.device.remove(ctx.cast.attackerCa);
}
