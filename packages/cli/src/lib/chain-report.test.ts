import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { describeHostnameError } from "./chain-report.js";

// Node's own messages, from Node's own check, so a Node that words them differently shows here.
const nodeSays = (host: string, cert: Partial<PeerCertificate>): string =>
  checkServerIdentity(host, cert as PeerCertificate)?.message ?? "";

describe("describeHostnameError", () => {
  it("names the certificate's names, without the full stop Node puts after the host", () => {
    const message = nodeSays("wrong.name", {
      subjectaltname: "DNS:api.myapp.com, DNS:x.myapp.com",
      subject: {} as never,
    });
    assert.match(message, /Host: wrong\.name\. is not/, "Node's message has the stray full stop");
    assert.equal(describeHostnameError(message), "its names are DNS:api.myapp.com, DNS:x.myapp.com");
  });

  it("says a certificate without subjectAltName has only its CN, and an IP address its IP list", () => {
    assert.equal(
      describeHostnameError(nodeSays("wrong.name", { subject: { CN: "api.myapp.com" } as never })),
      "it has no subjectAltName, and its CN is api.myapp.com",
    );
    assert.equal(
      describeHostnameError(
        nodeSays("10.0.0.5", {
          subjectaltname: "DNS:api.myapp.com, IP Address:127.0.0.1",
          subject: {} as never,
        }),
      ),
      "its IP addresses are 127.0.0.1",
    );
    assert.equal(
      describeHostnameError(nodeSays("wrong.name", { subject: {} as never })),
      "it holds no DNS name",
    );
  });

  it("keeps a message of another shape, with the full stop after the host dropped", () => {
    assert.equal(describeHostnameError("Host: a.test. is not allowed"), "Host: a.test is not allowed");
    assert.equal(describeHostnameError("something else"), "something else");
  });
});
