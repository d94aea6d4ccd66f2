import { type PolicyFile, parsePolicy } from "@keypin/core";
import { attempt, cleanDevice } from "./common.js";
import { defineScenario } from "./definition.js";
import { shortPin } from "./narrate-attempt.js";

/** The backend rotates to its spare key: the app with a backup pin keeps working, the other is locked out. */
export const keyRotation = defineScenario({
  name: "key-rotation",
  title: "The backend rotates its key",
  proves: "A backup pin keeps the app working through a key rotation; without one the app is locked out.",
  expected: { backup: "works", "no-backup": "blocked" },
  async run(ctx) {
    const { cast } = ctx;
    cleanDevice(ctx);
    cast.backend.rotate(cast.rotatedLeaf);
    try {
      ctx.step({
        actor: "backend",
        step: "setup",
        text:
          `${cast.host} rotates its key: it now serves a certificate for the spare key ${shortPin(cast.pins.backup)} ` +
          `(same CA). The old leaf key ${shortPin(cast.pins.leaf)} is gone.`,
        route: [],
        data: { oldPin: cast.pins.leaf, newPin: cast.pins.backup },
      });
      const withBackup: PolicyFile = {
        domains: {
          [cast.host]: {
            pins: [
              { pin: cast.pins.leaf, role: "leaf", label: "current key" },
              { pin: cast.pins.backup, role: "backup", label: "spare key, kept offline" },
            ],
          },
        },
      };
      const withoutBackup: PolicyFile = {
        domains: { [cast.host]: { pins: [{ pin: cast.pins.leaf, role: "leaf", label: "current key" }] } },
      };
      // What keypin's own lint said about each pin set before it shipped.
      const lint = (policy: PolicyFile) =>
        parsePolicy(policy).warnings.map((warning) => ({ code: warning.code, message: warning.message }));
      const warnings = lint(withoutBackup);
      ctx.step({
        actor: "lab",
        step: "setup",
        text:
          "Two versions of the app: one pinned the leaf key and a backup key, the other only the leaf key" +
          (warnings.length > 0
            ? `, although keypin's lint had warned about it (${warnings.map((w) => w.code).join(", ")}).`
            : "."),
        route: [],
        data: { withBackup, withoutBackup, lint: { withBackup: lint(withBackup), withoutBackup: warnings } },
      });
      const a = await attempt(ctx, { who: "The app with a backup pin", policy: withBackup, viaProxy: false });
      const b = await attempt(ctx, {
        who: "The app without a backup pin",
        policy: withoutBackup,
        viaProxy: false,
      });
      ctx.step({
        actor: "lab",
        step: "decision",
        text:
          b.observation === "blocked"
            ? "The app without a backup pin is locked out of the real server until its users install an update: " +
              "that is why keypin lints a pin set without a backup key."
            : "Unexpected: the app without a backup pin was not locked out.",
        route: [],
        data: {},
      });
      return { backup: a.observation, "no-backup": b.observation };
    } finally {
      cast.backend.rotate(cast.leaf);
    }
  },
});
