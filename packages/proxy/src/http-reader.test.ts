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

  it("frames a message split at every byte exactly as when it arrives whole (heads, lengths, chunks, trailers)", () => {
    const stream = Buffer.from(
      "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" +
        "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n" +
        "GET /c HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    const whole = new HttpMessageReader().push(stream);
    assert.deepEqual(
      whole.map((m) => [m.startLine, m.body, m.bodyLength, m.truncated]),
      [
        ["POST /a HTTP/1.1", "abc", 3, false],
        ["POST /b HTTP/1.1", "abcde", 5, false],
        ["GET /c HTTP/1.1", "", 0, false],
      ],
    );
    for (let cut = 1; cut < stream.length; cut++) {
      const reader = new HttpMessageReader();
      const split = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      assert.deepEqual(split, whole, `split at ${cut}`);
    }
    const bytewise = new HttpMessageReader();
    const one = [...stream].flatMap((byte) => bytewise.push(Buffer.from([byte])));
    assert.deepEqual(one, whole, "one byte at a time");
  });

  it("keeps at most maxBodyBytes of a 32 MiB body, however it is framed, and says how long it was", () => {
    const MiB = 1024 * 1024;
    const piece = Buffer.alloc(16 * 1024, 0x61);
    const heads = {
      length: `POST /up HTTP/1.1\r\ncontent-length: ${32 * MiB}\r\n\r\n`,
      chunked: "POST /up HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
      unframed: "HTTP/1.1 200 OK\r\n\r\n",
    };
    // The control: a body under the limit is kept whole.
    const control = new HttpMessageReader({ maxBodyBytes: 4096 });
    const [small] = control.push(Buffer.from(`${heads.length.replace(String(32 * MiB), "5")}hello`));
    assert.deepEqual([small?.body, small?.bodyLength, small?.truncated], ["hello", 5, false]);
    for (const [framing, head] of Object.entries(heads)) {
      const reader = new HttpMessageReader({ maxBodyBytes: 4096 });
      let most = 0;
      const messages = reader.push(Buffer.from(head));
      for (let sent = 0; sent < 32 * MiB; sent += piece.length) {
        const bytes =
          framing === "chunked"
            ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n")])
            : piece;
        messages.push(...reader.push(bytes));
        most = Math.max(most, reader.keptBytes);
      }
      if (framing === "chunked") messages.push(...reader.push(Buffer.from("0\r\n\r\n")));
      messages.push(...reader.end());
      assert.ok(most <= 4096, `${framing}: kept at most 4096 bytes (kept ${most})`);
      assert.equal(messages.length, 1, framing);
      assert.equal(messages[0]?.bodyLength, 32 * MiB, framing);
      assert.equal(messages[0]?.truncated, true, framing);
      assert.equal(messages[0]?.body, "a".repeat(4096), framing);
    }
  });

  it("gives up on a head longer than maxHeadBytes (16 MiB of headers that never end) and keeps nothing of it", () => {
    // The control: a head just under the limit is read.
    const under = new HttpMessageReader({ maxHeadBytes: 1024 });
    const head = `GET / HTTP/1.1\r\nX: ${"a".repeat(1024 - 25)}\r\n\r\n`;
    assert.equal(under.push(Buffer.from(head))[0]?.startLine, "GET / HTTP/1.1");
    assert.equal(under.gaveUp, undefined);

    const reader = new HttpMessageReader();
    let most = 0;
    assert.deepEqual(reader.push(Buffer.from("GET / HTTP/1.1\r\nX-Long: ")), []);
    const piece = Buffer.alloc(16 * 1024, 0x61);
    for (let sent = 0; sent < 16 * 1024 * 1024; sent += piece.length) {
      assert.deepEqual(reader.push(piece), []);
      most = Math.max(most, reader.keptBytes);
    }
    assert.ok(most <= 65_536, `kept at most 64 KiB (kept ${most})`);
    assert.equal(reader.keptBytes, 0);
    assert.match(reader.gaveUp ?? "", /a head over 65536 bytes/);
    assert.deepEqual(
      reader.push(Buffer.from("\r\n\r\nGET /next HTTP/1.1\r\n\r\n")),
      [],
      "reads no more of it",
    );
    assert.deepEqual(reader.end(), []);
  });

  it("gives up on a chunk-size line that never ends, and reads a bodyless 204 or 304 without waiting for the end", () => {
    const reader = new HttpMessageReader();
    reader.push(Buffer.from("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"));
    reader.push(Buffer.alloc(8192, 0x31));
    assert.match(reader.gaveUp ?? "", /a line over 4096 bytes/);
    assert.equal(reader.keptBytes, 0);

    const responses = new HttpMessageReader();
    const read = responses.push(
      Buffer.from("HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
    );
    assert.deepEqual(
      read.map((m) => m.startLine),
      ["HTTP/1.1 304 Not Modified", "HTTP/1.1 204 No Content"],
    );
  });
});
