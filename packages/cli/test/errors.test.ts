import assert from "node:assert/strict";
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  hasStack,
  makeSelfSigned,
  makeTempDir,
  type RunningServer,
  runCli,
  startPlainServer,
  startRefusingProxy,
  startSilentServer,
  unusedPort,
} from "@keypin/testkit";
import { commandTable } from "../src/command-table.js";

const version = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** Asserts the documented failure shape: exit code, one line on stderr without a stack, nothing on stdout. */
function assertOneLine(
  result: { code: number | null; stdout: string; stderr: string },
  code: 1 | 2,
  pattern: RegExp,
) {
  assert.equal(result.code, code, `exit code (stderr: ${result.stderr})`);
  assert.equal(result.stdout, "", "nothing on stdout");
  assert.match(result.stderr, /^keypin: /);
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trimEnd().split("\n").length, 1, `one line: ${result.stderr}`);
  assert.ok(!hasStack(result.stderr), "no stack trace without --debug");
}

describe("keypin command line", () => {
  it("prints help with every command, and exits 0", async () => {
    for (const args of [[], ["--help"], ["-h"], ["help"]]) {
      const result = await runCli(args);
      assert.equal(result.code, 0, result.stderr);
      for (const { name: command } of commandTable) {
        assert.match(result.stdout, new RegExp(`\\n  ${command} +\\S`), `${command} in ${args.join(" ")}`);
      }
    }
  });

  it("prints the package version for --version", async () => {
    const result = await runCli(["--version"]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${version}\n`);
  });

  it("shows a command's options and exit codes for `help <command>` and `<command> --help`", async () => {
    const help = await runCli(["help", "check"]);
    assert.equal(help.code, 0, help.stderr);
    for (const option of [
      "--policy",
      "--host",
      "--concurrency",
      "--strict",
      "--json",
      "--servername",
      "--connect-to",
      "--ca",
      "--proxy",
      "--timeout",
    ]) {
      assert.ok(help.stdout.includes(option), `${option} in help`);
    }
    assert.match(help.stdout, /Exit codes:\n {2}0 +every host passed/);
    const flag = await runCli(["check", "--help"]);
    assert.equal(flag.stdout, help.stdout);
  });

  it("refuses an unknown command with exit 2 and a suggestion", async () => {
    assertOneLine(
      await runCli(["hsah", "cert.pem"]),
      2,
      /unknown command "hsah" \(did you mean `keypin hash`\?\)/,
    );
    assertOneLine(await runCli(["help", "frobnicate"]), 2, /unknown command "frobnicate"/);
  });

  it("refuses unknown flags with exit 2 and nothing on stdout, even with --json", async () => {
    assertOneLine(
      await runCli(["hash", "--json", "--frobnicate", "x.pem"]),
      2,
      /unknown option --frobnicate for `keypin hash`/,
    );
    assertOneLine(await runCli(["inspect", "--insecure", "example.com"]), 2, /unknown option --insecure/);
    assertOneLine(await runCli(["--json"]), 2, /unknown option --json/);
    assertOneLine(
      await runCli(["inspect", "example.com", "--timeout"]),
      2,
      /--timeout of `keypin inspect` needs a value/,
    );
    assertOneLine(
      await runCli(["inspect", "example.com", "--timeout", "soon"]),
      2,
      /needs a positive whole number/,
    );
    assertOneLine(
      await runCli(["inspect", "example.com", "--connect-to", "a:b"]),
      2,
      /HOST1:PORT1:HOST2:PORT2/,
    );
    assertOneLine(await runCli(["inspect", "https://example.com/"]), 2, /not a host or host:port/);
    assertOneLine(await runCli(["inspect"]), 2, /takes one <host\[:port\]>/);
    assertOneLine(
      await runCli(["check", "--json", "--proxy", "not a url"]),
      2,
      /proxy "not a url" is not a URL/,
    );
    // Credentials in a proxy URL are not repeated in the error.
    for (const proxy of ["socks5://user:s3cret@127.0.0.1:1080", "user:s3cret@127.0.0.1:8080"]) {
      const run = await runCli(["check", "--json", "--proxy", proxy]);
      assertOneLine(run, 2, /proxy "(socks5:\/\/)?…@127\.0\.0\.1:\d+"/);
      assert.ok(!run.stderr.includes("s3cret"), run.stderr);
    }
  });

  it("colors only when forced, and never when NO_COLOR or --no-color says so", async () => {
    const forced = await runCli(["--help"], { env: { NO_COLOR: undefined, FORCE_COLOR: "1" } });
    assert.match(forced.stdout, /\u001b\[/);
    const noColor = await runCli(["--help"], { env: { NO_COLOR: "1", FORCE_COLOR: "1" } });
    assert.doesNotMatch(noColor.stdout, /\u001b\[/);
    const flag = await runCli(["--help", "--no-color"], { env: { NO_COLOR: undefined, FORCE_COLOR: "1" } });
    assert.doesNotMatch(flag.stdout, /\u001b\[/);
    // A command's own output too: each command is bundled on its own, so the flag must reach it.
    const tmp = makeTempDir();
    try {
      const cert = makeSelfSigned(tmp.dir, "cert", "/CN=colors", { days: 2 }).certPath;
      const env = { NO_COLOR: undefined, FORCE_COLOR: "1" };
      assert.match((await runCli(["hash", cert], { env })).stdout, /\u001b\[/);
      assert.doesNotMatch((await runCli(["hash", cert, "--no-color"], { env })).stdout, /\u001b\[/);
    } finally {
      tmp.remove();
    }
  });

  it("says clearly, without a crash, when a command is missing from the build", async () => {
    const copy = makeTempDir();
    try {
      const cli = fileURLToPath(new URL("..", import.meta.url));
      cpSync(join(cli, "bin"), join(copy.dir, "bin"), { recursive: true });
      cpSync(join(cli, "dist"), join(copy.dir, "dist"), { recursive: true });
      cpSync(join(cli, "package.json"), join(copy.dir, "package.json"));
      symlinkSync(
        fileURLToPath(new URL("../../../node_modules", import.meta.url)),
        join(copy.dir, "node_modules"),
      );
      rmSync(join(copy.dir, "dist", "commands", "lab.js"));
      const bin = join(copy.dir, "bin", "keypin.js");
      const run = await runCli(["lab"], { bin });
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, /^keypin: `keypin lab` is not in this build \(commands\/lab\.js is missing\)/);
      assert.ok(!hasStack(run.stderr));
      const help = await runCli(["--help"], { bin });
      assert.equal(help.code, 0, "the other commands still work");
    } finally {
      copy.remove();
    }
  });

  it("shows the stack with --debug", async () => {
    const result = await runCli(["hash", "--debug", "/nonexistent/cert.pem"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^keypin: \/nonexistent\/cert\.pem: no such file/);
    assert.ok(hasStack(result.stderr), result.stderr);
  });

  describe("input files", () => {
    const tmp = makeTempDir();
    after(() => tmp.remove());
    const write = (name: string, content: string) => {
      const path = join(tmp.dir, name);
      writeFileSync(path, content);
      return path;
    };

    it("names a missing --ca file and exits 2", async () => {
      assertOneLine(
        await runCli(["inspect", "example.com", "--ca", join(tmp.dir, "nope.pem")]),
        2,
        /nope\.pem: no such file/,
      );
    });

    it("refuses a --ca file without certificates", async () => {
      assertOneLine(
        await runCli(["inspect", "example.com", "--ca", write("notca.pem", "hello\n")]),
        2,
        /notca\.pem: no "BEGIN CERTIFICATE" block/,
      );
    });

    it("reports a missing policy file", async () => {
      assertOneLine(
        await runCli(["check", "--json", "--policy", join(tmp.dir, "keypin.json")]),
        2,
        /keypin\.json: no such file/,
      );
    });

    it("reports invalid JSON in the policy with its line and column", async () => {
      const file = write("broken.json", '{\n  "domains": {\n    "api.myapp.com": { "pins": [ }\n  }\n}\n');
      assertOneLine(await runCli(["check", "--json", "--policy", file]), 2, /broken\.json.*\b3\b.*\b\d+\b/);
    });

    it("reports an unknown field with its JSON path", async () => {
      const file = write(
        "typo.json",
        JSON.stringify({
          domains: {
            "api.myapp.com": {
              includeSubdomain: true,
              pins: [
                "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=",
              ],
            },
          },
        }),
      );
      assertOneLine(
        await runCli(["check", "--json", "--policy", file]),
        2,
        /\/domains\/api\.myapp\.com\/includeSubdomain/,
      );
    });

    it("reports bad pin strings with their JSON path", async () => {
      const file = write(
        "badpin.json",
        JSON.stringify({
          domains: {
            "api.myapp.com": {
              pins: [
                "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
              ],
            },
          },
        }),
      );
      assertOneLine(
        await runCli(["check", "--json", "--policy", file]),
        2,
        /\/domains\/api\.myapp\.com\/pins\/0/,
      );
    });
  });

  describe("network failures are exit 1 with one line naming the host", () => {
    let silent: RunningServer;
    let plain: RunningServer;
    let refusing: RunningServer;
    before(async () => {
      silent = await startSilentServer();
      plain = await startPlainServer();
      refusing = await startRefusingProxy();
    });
    after(async () => {
      await silent.close();
      await plain.close();
      await refusing.close();
    });

    it("an unreachable port", async () => {
      const port = await unusedPort();
      assertOneLine(
        await runCli(["inspect", `127.0.0.1:${port}`, "--json"]),
        1,
        new RegExp(`127\\.0\\.0\\.1:${port}`),
      );
    });

    it("a port that does not speak TLS", async () => {
      assertOneLine(await runCli(["inspect", `127.0.0.1:${plain.port}`]), 1, /TLS/);
    });

    it("a proxy that refuses the tunnel", async () => {
      assertOneLine(
        await runCli(["inspect", "api.myapp.test", "--proxy", `http://127.0.0.1:${refusing.port}`]),
        1,
        /api\.myapp\.test.*(403|refus|proxy)/i,
      );
    });

    it("a timeout", async () => {
      assertOneLine(
        await runCli(["inspect", `127.0.0.1:${silent.port}`, "--timeout", "300"]),
        1,
        /300 ms|time/i,
      );
    });
  });
});
