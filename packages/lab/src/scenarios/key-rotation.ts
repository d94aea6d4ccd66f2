import { type PolicyFile, parsePolicy } from "@keypin/core";
import { attemptWhatIf, setScene, whatIfPolicy } from "../what-if/play.js";
import type { LabWhatIf } from "../what-if/what-if.js";
import { defineScenario } from "./definition.js";

/** The key rotation's two apps, each a what-if of its own in the same rotated scene (the rule table predicts each). */
export const keyRotationApps: Readonly<Record<"backup" | "no-backup", LabWhatIf>> = {
  backup: {
    attackerCaInstalled: false,
    viaProxy: false,
    pins: ["leaf", "backup"],
    rotated: true,
    expired: false,
  },
  "no-backup": { attackerCaInstalled: false, viaProxy: false, pins: ["leaf"], rotated: true, expired: false },
};

/** The backend rotates to its spare key: the app with a backup pin keeps working, the other is locked out. */
export const keyRotation = defineScenario({
  name: "key-rotation",
  title: "The backend rotates its key",
  proves: "A backup pin keeps the app working through a key rotation; without one the app is locked out.",
  expected: { backup: "works", "no-backup": "blocked" },
  // Not one what-if: two apps with different pin sets (keyRotationApps), each a `rotated: true` attempt.
  whatIf: null,
  async run(ctx) {
    const restore = setScene(ctx, { attackerCaInstalled: false, rotated: true });
    try {
      const withBackup = whatIfPolicy(ctx.cast, keyRotationApps.backup)!;
      const withoutBackup = whatIfPolicy(ctx.cast, keyRotationApps["no-backup"])!;
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
      const a = await attemptWhatIf(ctx, keyRotationApps.backup, "The app with a backup pin");
      const b = await attemptWhatIf(ctx, keyRotationApps["no-backup"], "The app without a backup pin");
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
      restore();
    }
  },
});
