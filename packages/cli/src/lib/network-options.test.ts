import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bypassesProxy, parseConnectTo, parseHostPort, resolveConnectTo } from "./network-options.js";

describe("host and --connect-to parsing", () => {
  it("splits host, host:port, bracketed and bare IPv6 addresses", () => {
    assert.deepEqual(parseHostPort("api.myapp.com"), { host: "api.myapp.com", port: 443 });
    assert.deepEqual(parseHostPort("api.myapp.com:8443"), { host: "api.myapp.com", port: 8443 });
    assert.deepEqual(parseHostPort("[::1]:8443"), { host: "::1", port: 8443 });
    assert.deepEqual(parseHostPort("::1"), { host: "::1", port: 443 });
  });

  it("refuses URLs, empty hosts and ports out of range", () => {
    for (const bad of [
      "https://api.myapp.com",
      "api.myapp.com/path",
      ":443",
      "host:0",
      "host:70000",
      "host:http",
    ]) {
      assert.throws(() => parseHostPort(bad), /is not a host or host:port/, bad);
    }
  });

  it("follows curl's --connect-to: empty parts match any host or port, or keep the original", () => {
    const rules = [parseConnectTo("api.myapp.com:443:127.0.0.1:8443"), parseConnectTo("::[::1]:")];
    assert.deepEqual(resolveConnectTo(rules, "API.myapp.com.", 443), {
      connectHost: "127.0.0.1",
      connectPort: 8443,
    });
    assert.deepEqual(resolveConnectTo(rules, "cdn.myapp.com", 8080), { connectHost: "::1" });
    assert.deepEqual(resolveConnectTo([parseConnectTo("a.test:443::9443")], "b.test", 443), {});
  });

  it("refuses a --connect-to without four parts or with a bad port", () => {
    assert.throws(() => parseConnectTo("a:b"), /HOST1:PORT1:HOST2:PORT2/);
    assert.throws(() => parseConnectTo("a:443:b:port"), /port must be 1–65535/);
  });
});

describe("NO_PROXY", () => {
  it("exempts listed domains, their subdomains and host:port entries, like curl", () => {
    const list = ["localhost", ".internal.example", "api.myapp.com:8443"];
    assert.equal(bypassesProxy(list, "LOCALHOST", 443), true);
    assert.equal(bypassesProxy(list, "a.b.internal.example", 443), true);
    assert.equal(bypassesProxy(list, "internal.example", 443), true);
    assert.equal(bypassesProxy(list, "api.myapp.com", 8443), true);
    assert.equal(bypassesProxy(list, "api.myapp.com", 443), false);
    assert.equal(bypassesProxy(list, "notinternal.example", 443), false);
    assert.equal(bypassesProxy(["*"], "anything.test", 443), true);
  });
});
