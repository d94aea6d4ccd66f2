// `keypin lab --web` as users run it: the BUILT bin (packages/cli/bin/keypin.js) as a subprocess. It prints a URL
// that serves the page, and on SIGINT closes every port (its own, the lab's cast) and exits 0.
import assert from "node:assert/strict";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { runCli, spawnCli } from "@keypin/testkit";
import { isListening, readSse } from "./http-client.js";

const children = new Set<ChildProcessWithoutNullStreams>();

interface Started {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<unknown[]>;
}

/** Starts `keypin lab --web …` and resolves once it has printed its URL. */
function startWeb(args: string[], env: Record<string, string | undefined> = {}): Promise<Started> {
  const child = spawnCli(["lab", "--web", ...args], { env });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, "close");
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(stdout)?.[1];
      if (url) resolve({ child, url, stdout: () => stdout, stderr: () => stderr, exited });
    });
    child.once("close", (code) => reject(new Error(`keypin lab --web exited early (${code}): ${stderr}`)));
  });
}

/** The cast's ports, from the run's first event (the lab's setup step). */
async function castPorts(url: string): Promise<number[]> {
  const { events } = await readSse(`${url}api/runs/r1/events`, { stop: (e) => e.length >= 1 });
  const setup = JSON.parse(events[0]!.data) as { data: { backend: string; proxy: string } };
  return [Number(setup.data.backend.split(":")[1]), Number(new URL(setup.data.proxy).port)];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("keypin lab --web (spawned)", () => {
  let fakeBin: string;
  before(() => {
    fakeBin = mkdtempSync(join(tmpdir(), "keypin-lab-web-fake-bin-"));
  });
  // A test that fails before its SIGINT must not leave its lab running.
  afterEach(() => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    children.clear();
  });
  after(() => rmSync(fakeBin, { recursive: true, force: true }));

  it("prints a URL that serves the page and the run, and on SIGINT closes every port, deletes its files and exits 0", async () => {
    const web = await startWeb([]);
    const page = await fetch(web.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /^default-src 'self'/);
    assert.match(await page.text(), /<html/i);
    const ports = await castPorts(web.url);
    const { ended } = await readSse(`${web.url}api/runs/r1/events`);
    assert.equal(ended, true);
    const pins = (await (await fetch(`${web.url}api/runs/r1/pins`)).json()) as { file: string }[];
    assert.ok(pins.length > 0);
    assert.equal(existsSync(pins[0]!.file), true);
    const port = Number(new URL(web.url).port);

    web.child.kill("SIGINT");
    const [code, signal] = await web.exited;
    assert.equal(signal, null, web.stderr());
    assert.equal(code, 0, web.stderr());
    assert.match(web.stdout(), /closed every port/);
    for (const p of [port, ...ports]) assert.equal(await isListening(p), false, `port ${p}`);
    assert.equal(existsSync(dirname(dirname(pins[0]!.file))), false);
  });

  it("serves events.jsonl in the lines of keypin lab --json: same keys in the same order, same steps", async () => {
    const terminal = await runCli(["lab", "--json", "--scenario", "3"]);
    assert.equal(terminal.code, 0, terminal.stderr);
    const web = await startWeb([]);
    // One run at a time: the default run first.
    await readSse(`${web.url}api/runs/r1/events`);
    const post = await fetch(`${web.url}api/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"scenarios":[3]}',
    });
    assert.equal(post.status, 201);
    const { id } = (await post.json()) as { id: string };
    await readSse(`${web.url}api/runs/${id}/events`);
    const served = (await (await fetch(`${web.url}api/runs/${id}/events.jsonl`)).text())
      .trimEnd()
      .split("\n");
    const printed = terminal.stdout.trimEnd().split("\n");
    const outline = (line: string) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      return [Object.keys(event).join(","), event["type"], event["scenario"], event["step"] ?? ""].join(" ");
    };
    assert.deepEqual(served.map(outline), printed.map(outline));
    web.child.kill("SIGINT");
    const [code] = await web.exited;
    assert.equal(code, 0);
  });

  it("--port N listens on that port of 127.0.0.1; a port in use fails with exit 1 and says what to do", async () => {
    const port = await freePort();
    const web = await startWeb(["--port", String(port)]);
    assert.equal(web.url, `http://127.0.0.1:${port}/`);
    const taken = await runCli(["lab", "--web", "--port", String(port)]);
    assert.equal(taken.code, 1);
    assert.match(
      taken.stderr,
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use: pick another with --port`),
    );
    web.child.kill("SIGINT");
    const [code] = await web.exited;
    assert.equal(code, 0);
  });

  it("--open spawns the platform's opener with the URL (a fake xdg-open on PATH records its argument)", async () => {
    const record = join(fakeBin, "opened.txt");
    const opener = join(fakeBin, "xdg-open");
    // Written whole, then renamed: the test never reads a half-written record.
    writeFileSync(
      opener,
      `#!/bin/sh\nprintf '%s' "$1" > '${record}.tmp' && mv '${record}.tmp' '${record}'\n`,
    );
    chmodSync(opener, 0o755);
    const web = await startWeb(["--open"], { PATH: `${fakeBin}:${process.env["PATH"] ?? ""}` });
    for (let i = 0; i < 200 && !existsSync(record); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(readFileSync(record, "utf8"), web.url);
    web.child.kill("SIGINT");
    const [code] = await web.exited;
    assert.equal(code, 0, web.stderr());
  });

  it("--open without any opener only warns: the page is served and Ctrl-C still exits 0", async () => {
    const empty = mkdtempSync(join(tmpdir(), "keypin-lab-web-no-opener-"));
    try {
      const web = await startWeb(["--open"], { PATH: empty });
      const lab = await fetch(`${web.url}api/lab`);
      assert.equal(lab.status, 200);
      await lab.arrayBuffer();
      for (let i = 0; i < 200 && !/could not open a browser/.test(web.stderr()); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.match(
        web.stderr(),
        /could not open a browser \(xdg-open: ENOENT\); open http:\/\/127\.0\.0\.1:\d+\/ yourself/,
      );
      web.child.kill("SIGINT");
      const [code] = await web.exited;
      assert.equal(code, 0, web.stderr());
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("refuses --web with --json, --keep or --scenario, a bad --port, and --open or --port without --web (exit 2)", async () => {
    const cases = [
      ["--web", "--json"],
      ["--web", "--keep"],
      ["--web", "--scenario", "3"],
      ["--web", "--port", "70000"],
      ["--web", "--port", "12ab"],
      ["--open"],
      ["--port", "8080"],
    ];
    const results = await Promise.all(cases.map((args) => runCli(["lab", ...args])));
    results.forEach(({ code, stderr }, i) => {
      assert.equal(code, 2, `${cases[i]!.join(" ")}: ${stderr}`);
      assert.match(stderr, /--web|--port|--open/);
    });
  });
});
