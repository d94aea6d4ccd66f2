import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpMessageReader } from "./http-reader.js";

describe("HttpMessageReader", () => {
  it("reads a request whose head arrives in pieces, then a second one on the same connection", () => {
    const reader = new HttpMessageReader();
    assert.deepEqual(reader.push(Buffer.from("GET /user/profile HTTP/1.1\r\nAuthoriza")), []);
    const [first] = reader.push(Buffer.from("tion: Bearer t0k\r\n\r\nGET /b HTTP/1.1\r\n\r\n"));
    assert.equal(first?.startLine, "GET /user/profile HTTP/1.1");
    assert.equal(first?.headers["authorization"], "Bearer t0k");
    assert.deepEqual(reader.push(Buffer.alloc(0)), []);
  });

  it("frames bodies by content-length and by chunked encoding", () => {
    const reader = new HttpMessageReader();
    const messages = reader.push(
      Buffer.from(
        'HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n{"a":12}' +
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
      ),
    );
    assert.deepEqual(
      messages.map((m) => m.body),
      ['{"a":12}', "abcde"],
    );
  });

  it("waits for the end of the stream for a response without length", () => {
    const reader = new HttpMessageReader();
    assert.deepEqual(reader.push(Buffer.from("HTTP/1.0 200 OK\r\n\r\nhello ")), []);
    assert.deepEqual(reader.push(Buffer.from("world")), []);
    assert.equal(reader.end()[0]?.body, "hello world");
  });
});
