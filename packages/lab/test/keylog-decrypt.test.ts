// The key log really decrypts the app's traffic: a relay of the test's own records the bytes of the app's TLS
// session with the lab's backend, and the lines onKeylog gave are used, as Wireshark uses an SSLKEYLOGFILE, to
// decrypt them here with Node's crypto (TLS 1.3, RFC 8446 §7.1 and §5.2). Nothing of the lab decrypts anything.
import assert from "node:assert/strict";
import { createDecipheriv, createHmac } from "node:crypto";
import { once } from "node:events";
import { connect as connectTcp, createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { requestProfile } from "../src/app.js";
import { startCast } from "../src/cast.js";

interface TlsRecord {
  type: number;
  header: Buffer;
  body: Buffer;
}

function records(stream: Buffer): TlsRecord[] {
  const out: TlsRecord[] = [];
  let at = 0;
  while (at + 5 <= stream.length) {
    const length = stream.readUInt16BE(at + 3);
    if (at + 5 + length > stream.length) break;
    out.push({
      type: stream[at]!,
      header: stream.subarray(at, at + 5),
      body: stream.subarray(at + 5, at + 5 + length),
    });
    at += 5 + length;
  }
  return out;
}

const suites: Record<number, { cipher: string; hash: "sha256" | "sha384"; keyLength: number }> = {
  4865: { cipher: "aes-128-gcm", hash: "sha256", keyLength: 16 },
  4866: { cipher: "aes-256-gcm", hash: "sha384", keyLength: 32 },
  4867: { cipher: "chacha20-poly1305", hash: "sha256", keyLength: 32 },
};

/** HKDF-Expand-Label with an empty context, for outputs no longer than one hash block. */
function expandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, "latin1");
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 0xff, full.length]),
    full,
    Buffer.from([0]),
  ]);
  return createHmac(hash, secret)
    .update(Buffer.concat([info, Buffer.from([1])]))
    .digest()
    .subarray(0, length);
}

/** Decrypts one TLS 1.3 record (sequence number `seq`) with a traffic secret: the inner plaintext and its type. */
function decrypt(
  record: TlsRecord,
  secret: Buffer,
  suite: number,
  seq: number,
): { type: number; content: Buffer } {
  const { cipher, hash, keyLength } = suites[suite]!;
  const key = expandLabel(hash, secret, "key", keyLength);
  const nonce = expandLabel(hash, secret, "iv", 12);
  nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8);
  const decipher = createDecipheriv(cipher as "aes-256-gcm", key, nonce, { authTagLength: 16 });
  decipher.setAAD(record.header);
  decipher.setAuthTag(record.body.subarray(record.body.length - 16));
  const inner = Buffer.concat([
    decipher.update(record.body.subarray(0, record.body.length - 16)),
    decipher.final(),
  ]);
  let end = inner.length;
  while (end > 0 && inner[end - 1] === 0) end--;
  return { type: inner[end - 1]!, content: inner.subarray(0, end - 1) };
}

describe("onKeylog's lines decrypt the app's session", () => {
  it("decrypt the server's first handshake record and the app's request, token included, as captured on the wire", async () => {
    const cast = await startCast();
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const relay = createServer((client: Socket) => {
      const upstream = connectTcp({ host: "127.0.0.1", port: cast.backend.port });
      client.on("data", (chunk: Buffer) => {
        toServer.push(chunk);
        upstream.write(chunk);
      });
      upstream.on("data", (chunk: Buffer) => {
        toClient.push(chunk);
        client.write(chunk);
      });
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.on("error", () => {});
      upstream.on("error", () => {});
    });
    relay.listen(0, "127.0.0.1");
    await once(relay, "listening");
    const port = (relay.address() as { port: number }).port;
    try {
      const lines: string[] = [];
      const result = await requestProfile(`https://${cast.host}:${port}`, cast.token, {
        policy: { domains: { [cast.host]: { pins: [cast.pins.intermediate, cast.pins.backup] } } },
        anchors: cast.device.pems(),
        lookup: cast.lookup,
        onKeylog: (line) => lines.push(line),
      });
      assert.equal(result.kind, "response", "the pinned app got its profile");

      const fromClient = records(Buffer.concat(toServer));
      const fromServer = records(Buffer.concat(toClient));
      // The ClientHello on the wire carries the client random the key log lines are filed under.
      const hello = fromClient[0]!;
      assert.equal(hello.type, 0x16);
      assert.equal(hello.body[0], 1, "a ClientHello");
      const random = hello.body.subarray(6, 38).toString("hex");
      const secret = (label: string): Buffer => {
        const line = lines.find((l) => l.startsWith(`${label} ${random} `));
        assert.ok(line, `a ${label} line for the session on the wire`);
        return Buffer.from(line.split(" ")[2]!, "hex");
      };
      // The ServerHello names the cipher suite (after the version, the random and the session id).
      const serverHello = fromServer[0]!;
      assert.equal(serverHello.body[0], 2, "a ServerHello");
      const sessionIdLength = serverHello.body[38]!;
      const suite = serverHello.body.readUInt16BE(39 + sessionIdLength);
      assert.ok(suites[suite], `a TLS 1.3 suite, got 0x${suite.toString(16)}`);

      // The server's first encrypted record is its EncryptedExtensions.
      const serverEncrypted = fromServer.filter((r) => r.type === 0x17);
      const extensions = decrypt(serverEncrypted[0]!, secret("SERVER_HANDSHAKE_TRAFFIC_SECRET"), suite, 0);
      assert.equal(extensions.type, 0x16, "a handshake message");
      assert.equal(extensions.content[0], 8, "EncryptedExtensions");

      // The app's first record under its application traffic secret is the request, token and all.
      const clientEncrypted = fromClient.filter((r) => r.type === 0x17);
      const finished = decrypt(clientEncrypted[0]!, secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET"), suite, 0);
      assert.equal(finished.content[0], 20, "the app's Finished");
      const request = decrypt(clientEncrypted[1]!, secret("CLIENT_TRAFFIC_SECRET_0"), suite, 0);
      assert.equal(request.type, 0x17, "application data");
      const text = request.content.toString("latin1");
      assert.match(text, /^GET \/user\/profile HTTP\/1\.1\r\n/);
      assert.ok(
        text.toLowerCase().includes(`authorization: bearer ${cast.token}`),
        "the decrypted request holds the token",
      );
    } finally {
      relay.close();
      await cast.close();
    }
  });
});
