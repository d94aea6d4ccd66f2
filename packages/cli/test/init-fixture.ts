// The setup init.test.ts and init-platforms.test.ts share: an openssl root, an issuing CA and a leaf for
// api.myapp.test served on 127.0.0.1, an offline backup key's CSR, and `keypin init` routed to that server.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before } from "node:test";
import {
  answerHello,
  type CliOptions,
  type CliResult,
  generateKeyFile,
  type Issued,
  makeCa,
  makeLeaf,
  makeTempDir,
  openssl,
  opensslPinOfPublicKey,
  type RunningServer,
  runCli,
  startHttpsServer,
  type TempDir,
} from "@keypin/testkit";

/** A pin object of a keypin.json that init wrote. */
export interface PinJson {
  pin: string;
  role: string;
  label: string;
}

/** A keypin.json that init wrote, as far as the tests read it. */
export interface PolicyJson {
  $schema: string;
  domains: Record<string, { pins: PinJson[]; includeSubdomains?: boolean; renewal?: { reuseKey: boolean } }>;
}

/** What the `before` hook of {@link useInitServer} makes; read it inside tests only. */
export interface InitServer {
  readonly tmp: TempDir;
  root: Issued;
  intermediate: Issued;
  leaf: Issued;
  /** The backup key's CSR (the key is never on the server) and the key's pin, by openssl. */
  backupCsr: string;
  backupPin: string;
  /** `--connect-to` the test server: api.myapp.test:443 reaches it (its root not trusted). */
  connectTo(): string[];
  /** {@link connectTo} and `--ca` its root: api.myapp.test:443 reaches it, trusted. */
  route(): string[];
  /** `keypin init api.myapp.test ARGS… <route>`. */
  init(args: readonly string[], options?: CliOptions): Promise<CliResult>;
  /** The same with `--backup <the CSR>` before ARGS. */
  initWithBackup(args: readonly string[], options?: CliOptions): Promise<CliResult>;
  /** A policy file init wrote, parsed. */
  readPolicy(file: string): PolicyJson;
}

/**
 * Registers, in the calling `describe`, the hooks that make the CA, the leaf, the server and the backup CSR
 * (and remove them after); `name` goes into the CA subjects, `backupAlgorithm` is the backup key's type.
 *
 * @example
 * const fx = useInitServer("Init", "ec-p384");
 * it("…", async () => { const r = await fx.initWithBackup(["--out", join(fx.tmp.dir, "k.json")]); });
 */
export function useInitServer(name: string, backupAlgorithm: "ec-p256" | "ec-p384"): InitServer {
  const tmp = makeTempDir();
  let server: RunningServer | undefined;
  const fx = {
    tmp,
    connectTo: () => ["--connect-to", `::127.0.0.1:${server!.port}`],
    route: () => [...fx.connectTo(), "--ca", fx.root.certPath],
    init: (args: readonly string[], options?: CliOptions) =>
      runCli(["init", "api.myapp.test", ...args, ...fx.route()], options),
    initWithBackup: (args: readonly string[], options?: CliOptions) =>
      fx.init(["--backup", fx.backupCsr, ...args], options),
    readPolicy: (file: string) => JSON.parse(readFileSync(file, "utf8")) as PolicyJson,
  } as InitServer;

  before(async () => {
    fx.root = makeCa(tmp.dir, "root", `/O=Keypin Test/CN=${name} Root`);
    fx.intermediate = makeCa(tmp.dir, "intermediate", `/O=Keypin Test/CN=${name} Issuing CA`, {
      issuer: fx.root,
    });
    fx.leaf = makeLeaf(tmp.dir, "leaf", ["api.myapp.test"], fx.intermediate);
    server = await startHttpsServer({
      key: fx.leaf.key,
      cert: `${fx.leaf.cert}${fx.intermediate.cert}`,
      handler: answerHello,
    });
    const backupKey = generateKeyFile(join(tmp.dir, "backup.key"), backupAlgorithm);
    fx.backupCsr = join(tmp.dir, "backup.csr");
    openssl(["req", "-new", "-key", backupKey, "-subj", "/CN=api.myapp.test", "-out", fx.backupCsr]);
    fx.backupPin = opensslPinOfPublicKey(openssl(["pkey", "-in", backupKey, "-pubout"]));
  });
  after(async () => {
    await server?.close();
    tmp.remove();
  });
  return fx;
}
