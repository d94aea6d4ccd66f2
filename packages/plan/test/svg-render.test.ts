// The SVG timeline renders in Chromium (Debian's `chromium` package, driven by playwright-core): the screenshot
// has the timeline's colors where the plan puts them. Skipped only on a developer's machine without Chromium;
// in CI (CI=true), where .ci/run installs it, a missing Chromium fails the test.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { inflateSync } from "node:zlib";
import type { Pin } from "@keypin/core";
import { chromiumLaunchOptions, skipWithoutChromium } from "@keypin/testkit";
import { chromium } from "playwright-core";
import { planPins, renderSvg } from "../src/index.js";

/** Decodes an 8-bit RGB(A), non-interlaced PNG (what Chromium's screenshots are) into RGBA pixels. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  assert.equal(png.subarray(0, 8).toString("hex"), "89504e470d0a1a0a");
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.subarray(offset + 4, offset + 8).toString("latin1");
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, "8-bit samples");
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      assert.ok(channels > 0 && data[12] === 0, "RGB or RGBA, not interlaced");
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(width * height * 4);
  const prev = new Uint8Array(stride);
  const row = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i]!;
      const a = i >= channels ? row[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      row[i] = (x + [0, a, b, (a + b) >> 1, paeth][filter]!) & 255;
    }
    for (let px = 0; px < width; px++) {
      for (let k = 0; k < 3; k++) out[(y * width + px) * 4 + k] = row[px * channels + k]!;
      out[(y * width + px) * 4 + 3] = channels === 4 ? row[px * channels + 3]! : 255;
    }
    prev.set(row);
  }
  return { width, height, rgba: out };
}

const day = (text: string) => new Date(`${text}T00:00:00Z`);
const pin = (n: number) => `sha256/${String(n).padStart(43, "B")}=` as Pin;

describe("the SVG timeline in Chromium", {
  skip: skipWithoutChromium(),
}, () => {
  it("renders the release window, the pins' bars and today's line in their colors", async () => {
    const nb = day("2026-11-20");
    const plan = planPins(
      [
        {
          host: "api.test",
          port: 443,
          domain: "api.test",
          mode: "enforce",
          reuseKey: false,
          pins: [{ pin: pin(1) }, { pin: pin(2), role: "backup" }],
          path: [
            {
              subject: "CN=api.test",
              issuer: "CN=R11, O=Let's Encrypt",
              pin: pin(1),
              notBefore: nb,
              notAfter: new Date(nb.getTime() + 90 * 86_400_000),
            },
            {
              subject: "CN=R11, O=Let's Encrypt",
              issuer: "CN=ISRG Root X1",
              pin: pin(3),
              notBefore: day("2024-03-13"),
              notAfter: day("2027-03-12"),
            },
          ],
        },
        {
          host: "cdn.test",
          port: 443,
          domain: "cdn.test",
          mode: "enforce",
          reuseKey: false,
          pins: [{ pin: pin(4) }],
          path: [
            {
              subject: "CN=cdn.test",
              issuer: "CN=Corp CA",
              pin: pin(4),
              notBefore: nb,
              notAfter: new Date(nb.getTime() + 200 * 86_400_000),
            },
          ],
        },
      ],
      { now: day("2026-12-01"), releaseDays: 14, adoptionDays: 30 },
    );
    const svg = renderSvg(plan);
    const browser = await chromium.launch(chromiumLaunchOptions);
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 400 } });
      await page.setContent(`<!doctype html><body style="margin:0;background:#000">${svg}</body>`);
      const shot = await page.locator("svg").screenshot();
      writeFileSync(join(tmpdir(), "keypin-plan-timeline.png"), shot);
      const { width, height, rgba } = decodePng(shot);
      assert.ok(width >= 990 && height > 100, `${width}×${height}`);
      const count = (hex: string) => {
        const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
        let n = 0;
        for (let i = 0; i < rgba.length; i += 4)
          if (rgba[i] === r && rgba[i + 1] === g && rgba[i + 2] === b) n++;
        return n;
      };
      // Each drawn part covers real pixels in its own color (a blank or failed render has none of them).
      for (const [name, color] of [
        ["release window", "#fdd835"],
        ["adoption window", "#ef9a9a"],
        ["a pin that leaves the path", "#ef6c00"],
        ["today", "#1565c0"],
      ] as const) {
        assert.ok(count(color) > 50, `${name} (${color}): ${count(color)} pixels`);
      }
      let white = 0;
      for (let i = 0; i < rgba.length; i += 4)
        if (rgba[i] === 255 && rgba[i + 1] === 255 && rgba[i + 2] === 255) white++;
      assert.ok(white < width * height, "not a blank picture");
    } finally {
      await browser.close();
    }
  });
});
