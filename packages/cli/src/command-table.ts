/**
 * The commands of `keypin`, in the order `keypin --help` lists them. Each lives in `commands/<name>.ts`
 * (a default export made with `defineCommand`) and is loaded only when it runs, so `keypin hash` does not
 * pay for TLS, undici or the lab. Adding a command: write `commands/<name>.ts`, and add its line here.
 * `main.ts` (dispatch, `keypin --help`, "did you mean") and `scripts/bundle.mjs` read this table.
 */
export interface CommandEntry {
  /** `keypin <name>`; the module is `commands/<name>.ts`. */
  readonly name: string;
  /**
   * What the command does, in one line: `keypin --help` lists it and `keypin help <name>` starts with it. It is
   * said here only, so that `keypin --help` loads no command module; the command's `meta` does not repeat it.
   */
  readonly summary: string;
  /**
   * How `main.ts` loads it: `true`, from the CommonJS file `scripts/bundle.mjs` makes of it
   * (`dist/cli-commands/<name>.cjs`, with @keypin/core and @keypin/node inlined: fast start-up);
   * `false`, as the ES module `dist/commands/<name>.js` (for commands whose packages are heavy anyway).
   */
  readonly bundled: boolean;
}

export const commandTable: readonly CommandEntry[] = [
  {
    name: "inspect",
    summary: "connect to a server; show its served and verified chains, pins, advice and warnings",
    bundled: true,
  },
  {
    name: "hash",
    summary:
      "print the pins (sha256/base64 of the SubjectPublicKeyInfo) of certificates, keys and CSRs (files or stdin)",
    bundled: true,
  },
  {
    name: "backup",
    summary: "make an offline backup key pair and its CSR, and print the backup pin",
    bundled: true,
  },
  {
    name: "init",
    summary: "inspect hosts and write a keypin.json policy with roles and a backup pin",
    bundled: true,
  },
  {
    name: "check",
    summary: "connect to every pinned host as a device would; report ok, pin-mismatch, untrusted, error",
    bundled: true,
  },
  {
    name: "plan",
    summary:
      "date each pin's end: renewals (SC-081 lifetimes, ARI), CA families, and when the next pin must be merged and released",
    bundled: false,
  },
  {
    name: "import",
    summary:
      "read the pins an app already ships (Android, iOS, OkHttp, React Native) into keypin.json, or --check that they agree",
    bundled: false,
  },
  {
    name: "export",
    summary: "turn keypin.json into Android, iOS, TrustKit, OkHttp, React Native and Node configuration",
    bundled: false,
  },
  {
    name: "audit",
    summary:
      "an intercepting proxy for your app: per host, intercepted, pinned, ca-not-trusted or undetermined, with evidence",
    bundled: false,
  },
  {
    name: "lab",
    summary: "run the MITM lab: watch pinning stop an intercepting proxy, live",
    bundled: false,
  },
  {
    name: "collect",
    summary:
      "run a pin-failure report collector for TrustKit, RFC 7469 and @keypin/node reports, with a dashboard and a JSON API",
    bundled: false,
  },
];
