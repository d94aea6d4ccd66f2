// One CertificatePinner shape for the OkHttp pin-union tests (review 2, finding 2): the calls, and for each host
// the pins OkHttp accepts there: the union of every pattern that matches it. okhttp-union.test.ts checks that
// keypin's import accepts at least those; interop/okhttp-union.test.ts checks the table against OkHttp itself.
export const pinOf = (b: number) => `sha256/${Buffer.alloc(32, b).toString("base64")}`;

export const calls: [pattern: string, pins: number[]][] = [
  ["api.example.com", [1, 3]],
  ["**.example.com", [2, 3]],
  ["*.example.org", [4]],
  ["api.example.org", [5]],
  ["**.deep.example.org", [6]],
  ["x.y.example.net", [7]],
  ["**.example.net", [8]],
  ["**.svc.example.io", [1]],
  ["*.example.io", [2]],
];

/** Host → the pins OkHttp accepts for it (sorted). Hosts OkHttp leaves unpinned are not listed. */
export const accepted: Record<string, number[]> = {
  "api.example.com": [1, 2, 3],
  "example.com": [2, 3],
  "b.example.com": [2, 3],
  "a.b.example.com": [2, 3],
  "api.example.org": [4, 5],
  "deep.example.org": [4, 6],
  "z.deep.example.org": [6],
  "x.y.example.net": [7, 8],
  "y.example.net": [8],
  "svc.example.io": [1, 2],
  "a.svc.example.io": [1],
};

/** The calls as Kotlin source keypin imports. */
export function kotlinSource(): string {
  const lines = calls.map(
    ([pattern, pins]) => `    .add("${pattern}", ${pins.map((b) => `"${pinOf(b)}"`).join(", ")})`,
  );
  return `import okhttp3.CertificatePinner\n\nval pinner = CertificatePinner.Builder()\n${lines.join("\n")}\n    .build()\n`;
}

/**
 * Pattern spellings and the host keypin reads them as, with whether OkHttp applies the pattern to that host
 * (measured with OkHttp 4.12: it lowercases and maps IDN and fullwidth dots, keeps a trailing dot, does not
 * re-read "0x7f.1", and refuses white space). interop/okhttp-union.test.ts checks the `applied` column.
 */
export const spellings: [pattern: string, host: string, applied: boolean][] = [
  ["API.Example.com", "api.example.com", true],
  ["api\uff0eexample\u3002com", "api.example.com", true],
  ["b\u00fccher.example", "xn--bcher-kva.example", true],
  ["**.Example.ORG", "example.org", true],
  ["api.example.com.", "api.example.com", false],
  ["**.example.net.", "example.net", false],
  ["0x7f.1", "127.0.0.1", false],
  [" api.example.com", "api.example.com", false],
  ["api.example.com\t", "api.example.com", false],
];
