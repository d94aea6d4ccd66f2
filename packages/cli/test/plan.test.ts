// `keypin plan` replays the incidents that bricked pinned apps, with generated certificates of the same shapes
// served from 127.0.0.1: for each, the plan names the day the pins stop matching before that day, and the
// renewed chain served afterwards indeed no longer matches.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  generateKey,
  issue,
  makeTempDir,
  opensslPinOfCertificate,
  runCli,
  startHttpsServer,
  type TestCert,
  type TestKey,
  type TestServer,
  unusedPort,
} from "@keypin/testkit";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import ICAL from "ical.js";

const tmp = makeTempDir("keypin-plan-");
after(() => tmp.remove());

const dayMs = 86_400_000;
// The live replays serve certificates that must be valid now (the TLS client checks them against the clock),
// so they are dated from today; every plan is made --today that day, so a run across midnight stays exact.
const today = new Date(Math.floor(Date.now() / dayMs) * dayMs);
const at = (days: number) => new Date(today.getTime() + days * dayMs);
const ymd = (d: Date) => d.toISOString().slice(0, 10);
const utc = (day: string) => new Date(`${day}T00:00:00Z`);

let fileCount = 0;
function file(name: string, text: string): string {
  const path = join(tmp.dir, `${fileCount++}-${name}`);
  writeFileSync(path, text);
  return path;
}

/** A CA certificate: self-signed (a root, 3000 days either side of today) or issued by `issuer` (ends in 1500 days). */
async function ca(subject: string, issuer?: TestCert, extra: { key?: TestKey; notAfter?: Date } = {}) {
  const [from, to] = issuer ? [-400, 1500] : [-3000, 3000];
  return issue("p256", {
    subject,
    issuer,
    ca: true,
    notBefore: at(from),
    notAfter: extra.notAfter ?? at(to),
    key: extra.key,
  });
}
const root = (subject: string) => ca(subject);

/** A 90-day leaf for api.test issued `age` days ago (renewal due at day 60: in 60 − age days). */
async function leaf(issuer: TestCert, age: number, extra: { key?: TestKey; lifetime?: number } = {}) {
  return issue("p256", {
    subject: "CN=api.test",
    issuer,
    dns: ["api.test"],
    notBefore: at(-age),
    notAfter: at(-age + (extra.lifetime ?? 90)),
    key: extra.key,
  });
}

/** Example CA's root and issuing CA (outside the CA-family table), and a 90-day api.test leaf `age` days old. */
async function exampleChain(age: number) {
  const anchor = await root("CN=Example Root, O=Example CA");
  const issuing = await ca("CN=Example Issuing CA 1, O=Example CA", anchor);
  return { anchor, issuing, current: await leaf(issuing, age) };
}

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** Serves `chain` (leaf first) on 127.0.0.1 and returns the options that route api.test:443 there. */
async function serve(chain: TestCert[], anchor: TestCert): Promise<string[]> {
  const server = await startHttpsServer({ key: chain[0]!.keyPem, cert: chain.map((c) => c.pem).join("") });
  servers.push(server);
  return ["--connect-to", `api.test:443:127.0.0.1:${server.port}`, "--ca", file("anchor.pem", anchor.pem)];
}

function policy(pins: (string | { pin: string; role: string })[], mode?: string): string {
  return file(
    "keypin.json",
    JSON.stringify({ domains: { "api.test": { pins, ...(mode ? { mode } : {}) } } }),
  );
}

interface PlanJson {
  ok: boolean;
  hosts: {
    status: string;
    breaksAt?: string;
    shipBy?: string;
    mergeBy?: string;
    successor?: string;
    renewal?: { at: string; source: string; ariCertId?: string };
    pins: { pin: string; position?: number; changesAt?: string; reason?: string; removableAfter?: string }[];
    findings: { code: string; severity: string; message: string; date?: string }[];
  }[];
}

/** `keypin plan …` through the built bin (the command table lists it), dated `--today` the test's day unless given. */
function plan(args: string[]) {
  return runCli(["plan", ...args, ...(args.includes("--today") ? [] : ["--today", ymd(today)])]);
}

async function planJson(args: string[]): Promise<{ code: number | null; plan: PlanJson; stderr: string }> {
  const run = await plan([...args, "--json"]);
  assert.equal(run.stderr.includes("keypin:") && run.code === 2, false, run.stderr);
  return { code: run.code, plan: JSON.parse(run.stdout) as PlanJson, stderr: run.stderr };
}

const lead = ["--release-days", "14", "--adoption-days", "30"];

/** The plan of `keypin` against `chain` served on 127.0.0.1 (`lead` release facts, then `extra`). */
async function planServed(keypin: string, chain: TestCert[], anchor: TestCert, extra: string[] = []) {
  return planJson(["--policy", keypin, ...lead, ...(await serve(chain, anchor)), ...extra]);
}

/** `--policy keypin`, the `lead` release facts and `--offline --chain api.test=chain`. */
function offlineArgs(keypin: string, chain: string): string[] {
  return ["--policy", keypin, ...lead, "--offline", "--chain", `api.test=${chain}`];
}

/** The incident happens: `chain` (renewed as predicted) is served; the status the policy then gets. */
async function statusOnceServed(keypin: string, chain: TestCert[], anchor: TestCert, extra: string[] = []) {
  return (await planServed(keypin, chain, anchor, extra)).plan.hosts[0]!.status;
}

describe("keypin plan: a renewal that makes a new leaf key", () => {
  let issuing: TestCert;
  let anchor: TestCert;
  let current: TestCert;
  before(async () => ({ anchor, issuing, current } = await exampleChain(40))); // renews in 20 days

  it("dates the renewal that drops the leaf pin and fails --check while a release can no longer make it", async () => {
    const net = await serve([current, issuing], anchor);
    const keypin = policy([current.pin]);
    const { code, plan: p } = await planJson(["--policy", keypin, ...lead, ...net, "--check"]);
    assert.equal(code, 1);
    const host = p.hosts[0]!;
    assert.equal(host.status, "late");
    const renewal = ymd(at(20));
    assert.equal(host.renewal?.at.slice(0, 10), renewal);
    assert.equal(host.breaksAt?.slice(0, 10), renewal);
    assert.equal(host.pins[0]!.reason, "leaf-renewal");
    assert.equal(host.pins[0]!.changesAt?.slice(0, 10), renewal);
    // The pin the plan follows is the one openssl computes for the served leaf.
    assert.equal(host.pins[0]!.pin, opensslPinOfCertificate(current.pem));
    assert.equal(host.shipBy, new Date(Date.parse(`${ymd(at(-10))}T00:00:00Z`)).toISOString());
    assert.ok(host.findings.some((f) => f.code === "deadline-passed" && f.severity === "error"));

    // The table and --check's one line say the same, with the date.
    const text = await plan(["--policy", keypin, ...lead, ...net, "--check"]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, new RegExp(`late\\s+api\\.test[\\s\\S]*no pinned key left ${renewal}`));
    assert.match(
      text.stderr,
      new RegExp(
        `^keypin: plan --check failed: api\\.test late \\(the next pin had to be in the stores by ${ymd(at(-10))}\\)\\n$`,
      ),
    );

    // Then the renewal happens as predicted: a new key, and the policy's only pin no longer matches.
    const renewed = await leaf(issuing, 0);
    assert.equal(await statusOnceServed(keypin, [renewed, issuing], anchor), "mismatch");
  });

  it("passes --check when renewals keep the key, and the renewed certificate indeed keeps matching", async () => {
    const net = await serve([current, issuing], anchor);
    const keypin = policy([current.pin]);
    const { code, plan: p } = await planJson([
      "--policy",
      keypin,
      ...lead,
      ...net,
      "--reuse-key",
      "api.test",
      "--check",
    ]);
    assert.equal(code, 0);
    assert.equal(p.hosts[0]!.status, "stable");
    assert.equal(p.hosts[0]!.pins[0]!.changesAt, undefined);
    const all = await planJson(["--policy", keypin, ...lead, ...net, "--reuse-key", "all", "--check"]);
    assert.equal(all.code, 0);
    const renewed = await leaf(issuing, 0, { key: current });
    assert.equal(
      await statusOnceServed(keypin, [renewed, issuing], anchor, ["--reuse-key", "all"]),
      "stable",
    );
  });

  it("with a backup pin, says to renew onto it and dates the new backup pin", async () => {
    const backup = await generateKey("p256");
    const net = await serve([current, issuing], anchor);
    const { code, plan: p } = await planJson([
      "--policy",
      policy([current.pin, { pin: backup.pin, role: "backup" }]),
      "--release-days",
      "7",
      "--adoption-days",
      "14",
      ...net,
      "--check",
    ]);
    const host = p.hosts[0]!;
    assert.equal(host.successor, "backup");
    assert.ok(host.findings.some((f) => f.code === "use-backup" && f.date?.slice(0, 10) === ymd(at(20))));
    // The next key change is the renewal after: 20 + 60 days; its backup must ship 14 days before.
    assert.equal(host.shipBy?.slice(0, 10), ymd(at(66)));
    assert.equal(code, 0);
  });
});

describe("keypin plan: a CDN moving to another CA, with leaf + intermediate pins", () => {
  it("flags the renewal that drops both pins, then the chain of the new CA matches neither", async () => {
    const isrg = await root("CN=ISRG Root X1, O=Internet Security Research Group");
    const e5 = await ca("CN=E5, O=Let's Encrypt", isrg);
    const current = await leaf(e5, 10); // renews in 50 days
    const keypin = policy([current.pin, e5.pin]);
    const { code, plan: p } = await planServed(keypin, [current, e5], isrg, ["--check"]);
    const host = p.hosts[0]!;
    const renewal = ymd(at(50));
    assert.equal(host.status, "planned");
    assert.equal(code, 0); // merge by day 6: there is still time
    assert.equal(host.breaksAt?.slice(0, 10), renewal);
    assert.equal(host.mergeBy?.slice(0, 10), ymd(at(50 - 30 - 14)));
    assert.deepEqual(
      host.pins.map((x) => [x.reason, x.changesAt?.slice(0, 10)]),
      [
        ["leaf-renewal", renewal],
        ["family-rotation", renewal],
      ],
    );
    const single = host.findings.find((f) => f.code === "single-ca");
    assert.ok(single && single.date?.slice(0, 10) === renewal, JSON.stringify(host.findings));
    assert.match(single.message, /Let's Encrypt to Google Trust Services/);

    // The CDN renews through Google Trust Services: new leaf key, new intermediate, new root.
    const gts = await root("CN=GTS Root R4, O=Google Trust Services LLC");
    const we1 = await ca("CN=WE1, O=Google Trust Services", gts);
    assert.equal(await statusOnceServed(keypin, [await leaf(we1, 0), we1], gts), "mismatch");
  });
});

describe("keypin plan: an intermediate rotation (CloudFront M01 → M04)", () => {
  it("dates the renewal at which a pinned Amazon intermediate may be another one", async () => {
    const amazon = await root("CN=Amazon Root CA 1, O=Amazon");
    const m01 = await ca("CN=Amazon RSA 2048 M01, O=Amazon", amazon);
    const current = await leaf(m01, 200, { lifetime: 396 }); // a 13-month ACM certificate: renews in 64 days
    const keypin = policy([m01.pin]);
    const { plan: p } = await planServed(keypin, [current, m01], amazon);
    const host = p.hosts[0]!;
    const renewal = ymd(at(64));
    assert.equal(host.pins[0]!.reason, "family-rotation");
    assert.equal(host.breaksAt?.slice(0, 10), renewal);
    const finding = host.findings.find((f) => f.code === "family-intermediate");
    assert.ok(finding);
    assert.match(finding.message, /Amazon Root CA 1, Amazon Root CA 2/);
    const m04 = await ca("CN=Amazon RSA 2048 M04, O=Amazon", amazon);
    assert.equal(await statusOnceServed(keypin, [await leaf(m04, 0), m04], amazon), "mismatch");
  });

  it("dates the renewal whose certificate would outlive a CA's own intermediate, for a CA outside the table", async () => {
    const anchor = await root("CN=Corp Root, O=Corp");
    const old = await ca("CN=Corp Issuing CA 2019, O=Corp", anchor, { notAfter: at(100) });
    const current = await leaf(old, 30); // renews in 30 days; a 90-day certificate then would end after day 100
    const { plan: p } = await planServed(policy([old.pin]), [current, old], anchor);
    const host = p.hosts[0]!;
    assert.equal(host.pins[0]!.reason, "issuer-end-of-life");
    assert.equal(host.breaksAt?.slice(0, 10), ymd(at(30)));
    assert.equal(host.status, "late");
  });
});

describe("keypin plan: a CA choosing among its intermediates at random, one of them pinned", () => {
  it("flags the pinned Let's Encrypt intermediate at the next renewal and names the roots to pin", async () => {
    const isrg = await root("CN=ISRG Root X1, O=Internet Security Research Group");
    const r11 = await ca("CN=R11, O=Let's Encrypt", isrg);
    const current = await leaf(r11, 5);
    const keypin = policy([r11.pin]);
    const { code, plan: p } = await planServed(keypin, [current, r11], isrg, ["--check"]);
    const host = p.hosts[0]!;
    const finding = host.findings.find((f) => f.code === "family-intermediate");
    assert.ok(finding && finding.date?.slice(0, 10) === ymd(at(55)));
    assert.match(finding.message, /R10–R14.*Pin all of ISRG Root X1, ISRG Root X2/);
    assert.equal(code, 0);
    const r12 = await ca("CN=R12, O=Let's Encrypt", isrg);
    assert.equal(await statusOnceServed(keypin, [await leaf(r12, 0), r12], isrg), "mismatch");
  });

  it("flags a root pin that covers one side of a cross-signed pair, with the cross-sign's end", async () => {
    const x1 = await root("CN=ISRG Root X1, O=Internet Security Research Group");
    const x2key = await generateKey("p256");
    const x2cross = await ca("CN=ISRG Root X2, O=Internet Security Research Group", x1, {
      key: x2key,
      notAfter: at(120),
    });
    const e6 = await ca("CN=E6, O=Let's Encrypt", x2cross);
    const current = await leaf(e6, 5);
    const { plan: p } = await planServed(policy([x1.pin]), [current, e6, x2cross], x1);
    const host = p.hosts[0]!;
    assert.equal(host.pins[0]!.reason, "cross-sign-expiry");
    assert.equal(host.pins[0]!.changesAt?.slice(0, 10), ymd(at(120)));
    const finding = host.findings.find((f) => f.code === "cross-signed-root");
    assert.ok(finding);
    assert.match(finding.message, /pin ISRG Root X2 too/);
  });
});

describe("keypin plan: an ARI-forced early renewal", () => {
  it("moves the deadline to the CA's window and fails --check, where the usual renewal left time", async () => {
    const { anchor, issuing, current } = await exampleChain(10); // usual renewal in 50 days
    const keypin = policy([current.pin]);
    const net = await serve([current, issuing], anchor);
    const short = ["--release-days", "7", "--adoption-days", "14"];
    const usual = await planJson(["--policy", keypin, ...short, ...net, "--check"]);
    assert.equal(usual.code, 0);
    assert.equal(usual.plan.hosts[0]!.status, "planned");
    assert.ok(usual.plan.hosts[0]!.findings.some((f) => f.code === "ari-exposure"));

    // The leaf's ARI id is RFC 9773's: base64url(authorityKeyIdentifier).base64url(serial), as openssl reads them.
    const certFile = file("leaf.pem", current.pem);
    const aki = execFileSync(
      "openssl",
      ["x509", "-in", certFile, "-noout", "-ext", "authorityKeyIdentifier"],
      { encoding: "utf8" },
    );
    const serial = execFileSync("openssl", ["x509", "-in", certFile, "-noout", "-serial"], {
      encoding: "utf8",
    });
    const keyId = Buffer.from(/([0-9A-F]{2}(:[0-9A-F]{2})+)/.exec(aki)![1]!.replace(/:/g, ""), "hex");
    let serialBytes = Buffer.from(
      serial
        .trim()
        .replace(/^serial=/, "")
        .padStart(2, "0"),
      "hex",
    );
    if (serialBytes[0]! >= 0x80) serialBytes = Buffer.concat([Buffer.from([0]), serialBytes]);
    assert.equal(
      usual.plan.hosts[0]!.renewal?.ariCertId,
      `${keyId.toString("base64url")}.${serialBytes.toString("base64url")}`,
    );

    const window = { start: at(3).toISOString(), end: at(4).toISOString() };
    const ari = file(
      "ari.json",
      JSON.stringify({ suggestedWindow: window, explanationURL: "https://ca.test/incident" }),
    );
    const withAri = ["--policy", keypin, ...short, ...net, "--ari", `api.test=${ari}`, "--check"];
    const forced = await planJson(withAri);
    assert.equal(forced.code, 1);
    const host = forced.plan.hosts[0]!;
    assert.equal(host.status, "late");
    assert.equal(host.renewal?.source, "ari");
    assert.equal(host.pins[0]!.reason, "ari-renewal");
    assert.equal(host.breaksAt, window.start);
    const finding = host.findings.find((f) => f.code === "ari-window");
    assert.ok(
      finding && finding.severity === "warning" && finding.message.includes("https://ca.test/incident"),
    );

    // With the key kept, the early renewal changes nothing pinned.
    const kept = await planJson([...withAri, "--reuse-key", "api.test"]);
    assert.equal(kept.code, 0);
  });
});

describe("keypin plan: inputs, --offline, and the iCalendar and SVG files", () => {
  let anchor: TestCert;
  let issuing: TestCert;
  let current: TestCert;
  before(async () => ({ anchor, issuing, current } = await exampleChain(10)));

  it("plans from certificate files with --offline as it does from the live chain", async () => {
    const keypin = policy([current.pin, issuing.pin]);
    const live = await planJson(["--policy", keypin, ...lead, ...(await serve([current, issuing], anchor))]);
    const chain = file("chain.pem", current.pem + issuing.pem + anchor.pem);
    const offline = await planJson(offlineArgs(keypin, chain));
    assert.deepEqual(offline.plan.hosts[0]!.pins, live.plan.hosts[0]!.pins);
    assert.equal(offline.plan.hosts[0]!.breaksAt, live.plan.hosts[0]!.breaksAt);
  });

  it("refuses bad input with exit 2 and one line, before any output", async () => {
    const keypin = policy([current.pin]);
    const chain = file("chain.pem", current.pem + issuing.pem);
    const swapped = file("swapped.pem", issuing.pem + current.pem);
    const cases: [string[], RegExp][] = [
      [["--release-days", "-1"], /--release-days/],
      [["--adoption-days", "ninety"], /--adoption-days of `keypin plan` needs a whole number of days/],
      [["--policy", join(tmp.dir, "nope.json")], /nope\.json: no such file/],
      [["--chain", `api.test=${chain}`], /--chain is for --offline plans/],
      [["--offline"], /--offline needs --chain HOST=FILE for every domain of the policy; missing: api\.test/],
      [
        ["--offline", "--chain", `api.test=${swapped}`],
        /did not sign the one before it|is not for api\.test/,
      ],
      [["--offline", "--chain", `other.test=${chain}`], /other\.test is not a domain of the policy/],
      [
        ["--offline", "--chain", `api.test=${chain}`, "--ari", `api.test=${file("ari.json", "{")}`],
        /--ari api\.test=.*: not JSON/,
      ],
      [
        [
          "--offline",
          "--chain",
          `api.test=${chain}`,
          "--ari",
          `api.test=${file("ari.json", '{"suggestedWindow":{}}')}`,
        ],
        /RFC 3339/,
      ],
      [["--reuse-key", "nope.test"], /--reuse-key nope\.test: not a domain/],
      ...["2027-02-30", "2027-2-3", "tomorrow", "2027-03-15T00:00:00Z", "1969-12-31", "20270315", ""].map(
        (day): [string[], RegExp] => [
          ["--today", day],
          new RegExp(
            `^keypin: option --today of \`keypin plan\` needs a calendar day as YYYY-MM-DD \\(UTC, from 1970\\), e\\.g\\. 2027-03-15 \\(got "${day.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"\\)`,
          ),
        ],
      ),
      [
        ["--today", "2027-03-15", "--today", "2027-03-16"],
        /option --today of `keypin plan` is given more than once/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = await plan(["--policy", keypin, ...args, "--check"].slice(args[0] === "--policy" ? 2 : 0));
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.equal(run.stdout, "", args.join(" "));
      assert.equal(run.stderr.split("\n").length, 2, run.stderr);
      assert.match(run.stderr, message);
    }
  });

  it("says a host it could not read is not planned, writes no calendar or timeline, and exits 1 as check does", async () => {
    const keypin = policy([current.pin, issuing.pin]);
    const port = await unusedPort();
    const ics = join(tmp.dir, "unread.ics");
    const svg = join(tmp.dir, "unread.svg");
    const route = ["--connect-to", `api.test:443:127.0.0.1:${port}`];
    const run = await plan(["--policy", keypin, ...lead, ...route, "--ics", ics, "--svg", svg]);
    assert.equal(run.code, 1, run.stdout);
    assert.doesNotMatch(run.stdout, /act now/);
    assert.match(run.stdout, /could not read api\.test, so it has no plan/);
    assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    assert.match(
      run.stderr,
      /^keypin: plan failed: could not read api\.test \(Cannot connect to api\.test:443: .*ECONNREFUSED.*\); no plan for it, and --ics .*unread\.ics and --svg .*unread\.svg not written/,
    );
    assert.equal(existsSync(ics), false);
    assert.equal(existsSync(svg), false);
    const check = await runCli(["check", "--policy", keypin, ...route]);
    assert.equal(check.code, run.code, "keypin check exits the same for the host it cannot reach");
    const json = await planJson(["--policy", keypin, ...lead, ...route]);
    assert.equal(json.code, 1);
    assert.equal(json.plan.ok, false);
    assert.equal(json.plan.hosts[0]!.status, "error");
  });

  it("writes an iCalendar file that ical.js reads back with the plan's dates", async () => {
    const keypin = policy([current.pin]);
    const chain = file("chain.pem", current.pem + issuing.pem);
    const ics = join(tmp.dir, "pins.ics");
    const { plan: p } = await planJson([...offlineArgs(keypin, chain), "--ics", ics]);
    const text = readFileSync(ics, "utf8");
    assert.ok(text.endsWith("\r\n") && !/[^\r]\n/.test(text), "every line ends in CRLF");
    for (const line of text.split("\r\n")) assert.ok(Buffer.byteLength(line) <= 75, line);
    const calendar = new ICAL.Component(ICAL.parse(text));
    const events = calendar.getAllSubcomponents("vevent").map((v) => new ICAL.Event(v));
    const host = p.hosts[0]!;
    const byUid = new Map(events.map((e) => [e.uid, e]));
    assert.equal(byUid.size, events.length, "UIDs are unique");
    const merge = byUid.get("merge.api.test.443@plan.keypin");
    assert.ok(merge);
    assert.equal(merge.startDate.toString(), host.mergeBy?.slice(0, 10));
    assert.equal(merge.startDate.isDate, true);
    assert.equal(merge.summary, "keypin: merge the next pin for api.test");
    assert.equal(
      byUid.get("change.api.test.443@plan.keypin")?.startDate.toString(),
      host.breaksAt?.slice(0, 10),
    );
    const alarm = merge.component.getFirstSubcomponent("valarm");
    assert.equal(alarm?.getFirstPropertyValue("trigger")?.toString(), "-P7D");
    assert.ok(calendar.getFirstPropertyValue("prodid"));
    for (const event of events) assert.ok(event.component.getFirstPropertyValue("dtstamp"));
  });

  it("writes an SVG timeline that is well-formed XML with a window and a bar per pin", async () => {
    const backup = await generateKey("p256");
    const keypin = policy([current.pin, { pin: backup.pin, role: "backup" }]);
    const chain = file("chain.pem", current.pem + issuing.pem);
    const svg = join(tmp.dir, "pins.svg");
    await planJson([...offlineArgs(keypin, chain), "--svg", svg]);
    const text = readFileSync(svg, "utf8");
    assert.equal(XMLValidator.validate(text), true);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(text) as {
      svg: { rect: { "@_class"?: string }[]; line: { "@_class"?: string }[] };
    };
    const classes = [...doc.svg.rect, ...doc.svg.line].map((r) => r["@_class"]);
    assert.ok(classes.includes("release-window"));
    assert.ok(classes.includes("pin-changes"));
    assert.ok(classes.includes("pin-backup"));
    assert.ok(classes.includes("today"));
  });
});

describe("keypin plan --today: a plan dated as of a given day, exact to the day", () => {
  // Fixed dates, offline (no TLS client checks them against the clock): a 90-day leaf issued 2027-01-10
  // renews two thirds in, on 2027-03-11, with a new key. With 14 release and 30 adoption days the next pin
  // must be in the stores by 2027-02-09, so merged by 2027-01-26.
  let anchor: TestCert;
  let issuing: TestCert;
  let current: TestCert;
  let chain: string;
  let keypin: string;
  const offline = () => offlineArgs(keypin, chain);
  /** The leaf renewed on its day, 2027-03-11, with a new key (what an ACME client does by default). */
  const renewedLeaf = () =>
    issue("p256", {
      subject: "CN=api.test",
      issuer: issuing,
      dns: ["api.test"],
      notBefore: utc("2027-03-11"),
      notAfter: utc("2027-06-09"),
    });
  before(async () => {
    anchor = await issue("p256", {
      subject: "CN=Fixed Root, O=Fixed CA",
      ca: true,
      notBefore: utc("2020-01-01"),
      notAfter: utc("2040-01-01"),
    });
    issuing = await issue("p256", {
      subject: "CN=Fixed Issuing CA, O=Fixed CA",
      issuer: anchor,
      ca: true,
      notBefore: utc("2024-01-01"),
      notAfter: utc("2034-01-01"),
    });
    current = await issue("p256", {
      subject: "CN=api.test",
      issuer: issuing,
      dns: ["api.test"],
      notBefore: utc("2027-01-10"),
      notAfter: utc("2027-04-10"),
    });
    chain = file("fixed-chain.pem", current.pem + issuing.pem);
    keypin = policy([current.pin]);
  });

  it("dates renewal and deadlines from that day, and turns late the day after the last merge day", async () => {
    const onTime = await planJson([...offline(), "--today", "2027-01-26", "--check"]);
    assert.equal(onTime.code, 0, "a release merged on the last merge day ships on the ship-by day");
    const host = onTime.plan.hosts[0]!;
    assert.equal(host.status, "planned");
    assert.equal(host.renewal?.at, "2027-03-11T00:00:00.000Z");
    assert.equal(host.breaksAt, "2027-03-11T00:00:00.000Z");
    assert.equal(host.shipBy, "2027-02-09T00:00:00.000Z");
    assert.equal(host.mergeBy, "2027-01-26T00:00:00.000Z");
    assert.equal(host.pins[0]!.removableAfter, "2027-03-12T00:00:00.000Z");
    assert.equal(
      (JSON.parse((await plan([...offline(), "--today", "2027-01-26", "--json"])).stdout) as { now: string })
        .now,
      "2027-01-26T00:00:00.000Z",
    );

    const late = await planJson([...offline(), "--today", "2027-01-27", "--check"]);
    assert.equal(late.code, 1);
    assert.equal(late.plan.hosts[0]!.status, "late");
    const text = await plan([...offline(), "--today", "2027-01-27", "--check"]);
    assert.match(text.stdout, /planned 2027-01-27 \(release 14 days, adoption 30 days\)/);
    assert.match(
      text.stderr,
      /^keypin: plan --check failed: api\.test late \(the next pin had to be in the stores by 2027-02-09\)\n$/,
    );

    // On the renewal day the new leaf (a new key) is served, and the policy's only pin no longer matches.
    const renewed = await renewedLeaf();
    const after = await planJson([
      "--policy",
      keypin,
      ...lead,
      "--offline",
      "--chain",
      `api.test=${file("renewed.pem", renewed.pem + issuing.pem)}`,
      "--today",
      "2027-03-11",
    ]);
    assert.equal(after.plan.hosts[0]!.status, "mismatch");
  });

  it("reads renewal.reuseKey from keypin.json on its own; --reuse-key says it for one run", async () => {
    const kept = file(
      "kept.json",
      JSON.stringify({ domains: { "api.test": { pins: [current.pin], renewal: { reuseKey: true } } } }),
    );
    const args = ["--offline", "--chain", `api.test=${chain}`, ...lead, "--today", "2027-01-27"];
    const fromPolicy = await planJson(["--policy", kept, ...args, "--check"]);
    assert.equal(fromPolicy.code, 0);
    const host = fromPolicy.plan.hosts[0]! as PlanJson["hosts"][number] & { reuseKeyFrom?: string };
    assert.equal(host.status, "stable");
    assert.equal(host.reuseKeyFrom, "policy");
    assert.equal(host.pins[0]!.changesAt, undefined);
    const table = await plan(["--policy", kept, ...args]);
    assert.match(
      table.stdout,
      /renewal 2027-03-11 \(two thirds into its 90-day lifetime\), same key \(keypin\.json renewal\.reuseKey\)/,
    );

    // The same pins, the policy silent: a new key at the renewal, late on that day; the option overrides.
    const silent = await planJson(["--policy", keypin, ...args, "--check"]);
    assert.equal(silent.code, 1);
    const option = await plan(["--policy", keypin, ...args, "--reuse-key", "api.test", "--check"]);
    assert.equal(option.code, 0, option.stderr);
    assert.match(option.stdout, /same key \(--reuse-key\)/);
    // "reuseKey": false is the policy saying renewals make a new key: the same as silent.
    const newKey = file(
      "new-key.json",
      JSON.stringify({ domains: { "api.test": { pins: [current.pin], renewal: { reuseKey: false } } } }),
    );
    assert.equal((await planJson(["--policy", newKey, ...args, "--check"])).code, 1);
    // A bad value is the policy's typed error, naming the field: exit 2.
    const bad = file(
      "bad-renewal.json",
      JSON.stringify({ domains: { "api.test": { pins: [current.pin], renewal: { reuseKey: "yes" } } } }),
    );
    const refused = await plan(["--policy", bad, ...args]);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /\/domains\/api\.test\/renewal\/reuseKey: "renewal\.reuseKey" must be true or false/,
    );
  });

  it("catches the renewal that was to keep the key and did not (ATS leaf identities locked out)", async () => {
    const backup = await generateKey("p256");
    const leafSet = file(
      "leaf-set.json",
      JSON.stringify({
        domains: {
          "api.test": {
            pins: [
              { pin: current.pin, role: "leaf" },
              { pin: backup.pin, role: "backup" },
            ],
            renewal: { reuseKey: true },
          },
        },
      }),
    );
    const watched = await planJson([
      "--policy",
      leafSet,
      ...offline().slice(2),
      "--today",
      "2027-01-27",
      "--check",
    ]);
    assert.equal(watched.code, 0);
    assert.equal(watched.plan.hosts[0]!.status, "stable");
    // certbot renews on 2027-03-11 without --reuse-key: a new key, which neither pin names.
    const renewed = await renewedLeaf();
    const afterRenewal = await planJson([
      "--policy",
      leafSet,
      ...lead,
      "--offline",
      "--chain",
      `api.test=${file("renewed-new-key.pem", renewed.pem + issuing.pem)}`,
      "--today",
      "2027-03-11",
      "--check",
    ]);
    assert.equal(afterRenewal.code, 1);
    const host = afterRenewal.plan.hosts[0]!;
    assert.equal(host.status, "mismatch");
    const broken = host.findings.find((f) => f.code === "reuse-key-broken");
    assert.equal(broken?.severity, "error");
    assert.match(
      broken?.message ?? "",
      new RegExp(`not the pinned leaf key ${current.pin.replace(/[+/]/g, "\\$&")}`),
    );
  });

  it("stamps the iCalendar file and draws the SVG's today line on that day", async () => {
    const ics = join(tmp.dir, "fixed.ics");
    const svg = join(tmp.dir, "fixed.svg");
    const run = await plan([...offline(), "--today", "2027-01-15", "--ics", ics, "--svg", svg]);
    assert.equal(run.code, 0, run.stderr);
    const calendar = new ICAL.Component(ICAL.parse(readFileSync(ics, "utf8")));
    const events = calendar.getAllSubcomponents("vevent").map((v) => new ICAL.Event(v));
    assert.ok(events.length > 0);
    for (const event of events) {
      assert.equal(event.component.getFirstPropertyValue("dtstamp")?.toString(), "2027-01-15T00:00:00Z");
    }
    const byUid = new Map(events.map((e) => [e.uid, e.startDate.toString()]));
    assert.equal(byUid.get("merge.api.test.443@plan.keypin"), "2027-01-26");
    assert.equal(byUid.get("ship.api.test.443@plan.keypin"), "2027-02-09");
    assert.equal(byUid.get("change.api.test.443@plan.keypin"), "2027-03-11");
    const doc = new XMLParser({ ignoreAttributes: false }).parse(readFileSync(svg, "utf8")) as {
      svg: { title?: string; text: (string | { "#text"?: string })[] };
    };
    const texts = doc.svg.text.map((t) => (typeof t === "string" ? t : (t["#text"] ?? "")));
    assert.ok(texts.includes("today 2027-01-15"), texts.join(" | "));
    assert.match(readFileSync(svg, "utf8"), /keypin plan, 2027-01-15: release 14 days, adoption 30 days/);
  });
});
