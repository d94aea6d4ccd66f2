import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PolicyFile } from "@keypin/core";
import {
  type ExportFormat,
  type ExportFormatDescriptor,
  exportFormatDescriptors,
  exportFormats,
} from "@keypin/export";
import { labPlatforms, notShownFormats, platformsOf, renderPlatforms } from "./platforms.js";

const pinned: PolicyFile = {
  domains: {
    "api.myapp.com": {
      pins: [
        { pin: `sha256/${"A".repeat(43)}=`, role: "intermediate" },
        { pin: `sha256/${"B".repeat(43)}=`, role: "backup" },
      ],
    },
  },
};

describe("the lab page's platforms", () => {
  it("are every export format but those it says it leaves out, once each, the ones it presents in its order", () => {
    const ids = labPlatforms.map((p) => p.id);
    assert.deepEqual([...ids].sort(), exportFormats.filter((f) => notShownFormats[f] === undefined).sort());
    assert.equal(new Set(ids).size, ids.length);
    for (const format of Object.keys(notShownFormats)) {
      assert.ok((exportFormats as readonly string[]).includes(format), `${format} is an export format`);
    }
    assert.deepEqual(ids.slice(0, 6), [
      "android-nsc",
      "okhttp-kotlin",
      "ios-ats",
      "trustkit",
      "react-native",
      "node",
    ]);
  });

  it("show a format the page knows nothing about after the others, under its platform's name, by its file's language", () => {
    const node = exportFormatDescriptors.find((d) => d.name === "node")!;
    const added = {
      ...node,
      name: "new-format",
      platform: "A New Platform",
      defaultOut: "app/Pinning.swift",
    } as unknown as ExportFormatDescriptor<ExportFormat>;
    const platforms = platformsOf([...exportFormatDescriptors, added]);
    assert.deepEqual(platforms.slice(0, -1), [...labPlatforms]);
    assert.deepEqual(platforms.at(-1), {
      id: "new-format",
      label: "A New Platform",
      language: "swift",
      facts: [],
    });
    const unknownExtension = { ...added, defaultOut: "pins.yaml" } as ExportFormatDescriptor<ExportFormat>;
    assert.equal(platformsOf([unknownExtension]).at(-1)?.language, "text");
  });

  it("render a pin set with each format's exporter, in the page's order", () => {
    const rendered = renderPlatforms(pinned);
    assert.deepEqual(
      rendered.map((p) => p.id),
      labPlatforms.map((p) => p.id),
    );
    for (const platform of rendered) {
      assert.ok(platform.text.includes("A".repeat(43)), `${platform.id} carries the pin`);
      assert.notEqual(platform.filename, "");
    }
  });
});
