// Debian's Chromium for browser tests (playwright-core drives it; Playwright's own browser download cannot work
// here). In CI, where .ci/run installs it, a missing Chromium is an error; elsewhere the tests say so and skip.
import { existsSync } from "node:fs";

/** Where Debian's `chromium` package puts the browser. */
export const chromiumPath = "/usr/bin/chromium";

/**
 * The launch options: headless, no sandbox (CI runs as root), and none of the background traffic a closed
 * network refuses. Spread into `chromium.launch({ ...chromiumLaunchOptions })`.
 */
export const chromiumLaunchOptions: { executablePath: string; args: string[] } = {
  executablePath: chromiumPath,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

/**
 * The `skip` option for a browser test: false when Chromium is installed, a reason when it is not; throws under
 * CI=true, where a missing browser means .ci/run lost its `chromium` package.
 */
export function skipWithoutChromium(): string | false {
  if (existsSync(chromiumPath)) return false;
  if (process.env["CI"]) throw new Error(`${chromiumPath} is missing: .ci/run must apt-get install chromium`);
  return `${chromiumPath} is not installed (apt-get install chromium)`;
}
