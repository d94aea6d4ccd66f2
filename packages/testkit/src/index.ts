// @keypin/testkit: the one test kit of the keypin workspace (private, never published), as mockttp keeps one
// `test-utils` and undici one `test/utils`. Every package's tests and the benchmarks import it; no test imports
// another package's test files. One module per concern:
export * from "./browser.js"; // Debian's Chromium for browser tests: path, launch options, skip-or-fail
export * from "./cli.js"; // the built CLI as a subprocess (and on a terminal), any process timed
export * from "./connect-proxy.js"; // honest CONNECT proxies, and one that refuses
export * from "./crafted-chains.js"; // chains OpenSSL accepts that make a path search work hardest
export * from "./curl.js"; // curl, the outside client
export * from "./der-cert.js"; // certificates built byte by byte
export * from "./forging-proxy.js"; // the intercepting (forging) proxy: @keypin/proxy with counters
export * from "./keypin.js"; // policies, error codes along a cause chain, rejections
export * from "./mitmdump.js"; // the real mitmproxy (mitmdump) for the interop tests
export * from "./net.js"; // lookups, ports, socket tracking
export * from "./openssl.js"; // the openssl oracle: pins, verify
export * from "./openssl-ca.js"; // CAs and leaves made with the openssl CLI, as files
export * from "./openssl-chain.js"; // the benchmarks' root → intermediate → leaf, as files
export * from "./openssl-pki.js"; // openssl-made certificates with exact encodings (extfile DER, asn1parse -genconf)
export * from "./pki.js"; // root → intermediate → leaf chains made with @peculiar/x509
export * from "./postgres.js"; // a throwaway PostgreSQL cluster (Debian's binaries), skip-or-fail
export * from "./random.js"; // seeded randomness
export * from "./servers.js"; // HTTPS servers counting handshakes and resumptions, misbehaving servers
export * from "./temp-dir.js"; // temporary directories
