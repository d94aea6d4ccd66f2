import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { KeypinError } from "./errors.js";
import { computePin, formatHpkpPin, parsePin, pinToBase64 } from "./pin.js";

const sha256 = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());
const b64 = sha256(new Uint8Array([1, 2, 3]));
const bare = Buffer.from(b64).toString("base64");
const canonical = `sha256/${bare}` as const;

function pinError(text: string): KeypinError {
  try {
    parsePin(text);
  } catch (e) {
    assert.ok(e instanceof KeypinError);
    assert.equal(e.code, "ERR_KEYPIN_PIN_FORMAT");
    return e;
  }
  assert.fail(`parsePin accepted ${text}`);
}

describe("parsePin", () => {
  it("accepts OkHttp's sha256/ form, HPKP's pin-sha256 form and bare base64 as the same pin", () => {
    assert.equal(parsePin(canonical), canonical);
    assert.equal(parsePin(`pin-sha256="${bare}"`), canonical);
    assert.equal(parsePin(bare), canonical);
    assert.equal(parsePin(`  ${canonical}\n`), canonical);
  });

  it("refuses a hex digest and says it is hex", () => {
    const hex = Buffer.from(b64).toString("hex");
    assert.match(pinError(hex).message, /is hex \(64 hex digits\)/);
    assert.match(pinError(`sha256/${hex}`).message, /is hex/);
    const colons = hex.toUpperCase().match(/../g)!.join(":");
    assert.match(pinError(colons).message, /is hex/);
  });

  it("refuses base64url and names the offending character", () => {
    const url = Buffer.from(b64).toString("base64url");
    const padded = url.length % 4 === 0 ? url : `${url}${"=".repeat(4 - (url.length % 4))}`;
    const withUrlChars = padded.includes("-") || padded.includes("_") ? padded : `-${padded.slice(1)}`;
    assert.match(pinError(`sha256/${withUrlChars}`).message, /base64url/);
  });

  it("refuses SHA-1 pins in both spellings", () => {
    const sha1 = Buffer.from(createHash("sha1").update("x").digest()).toString("base64");
    assert.match(pinError(`sha1/${sha1}`).message, /SHA-1 pins are not supported/);
    assert.match(pinError(`pin-sha1="${sha1}"`).message, /SHA-1 pins are not supported/);
    assert.match(pinError(sha1).message, /20 bytes is a SHA-1 hash/);
  });

  it("refuses base64 that does not decode to 32 bytes and says how many it found", () => {
    assert.match(pinError(`sha256/${Buffer.alloc(31).toString("base64")}`).message, /decodes to 31 bytes/);
    assert.match(pinError(`sha256/${Buffer.alloc(33).toString("base64")}`).message, /decodes to 33 bytes/);
    assert.match(pinError(`sha256/${bare.slice(0, -1)}`).message, /multiple of 4/);
    assert.match(pinError("sha256/").message, /is empty/);
  });
  it("reads bare base64 that happens to begin like an algorithm prefix as bare base64", () => {
    for (const bare of [
      "MDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/AAAAAA=",
      "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ]) {
      assert.equal(parsePin(bare), `sha256/${Buffer.from(Buffer.from(bare, "base64")).toString("base64")}`);
    }
  });
});

describe("pin formatting", () => {
  it("computes sha256/ of the given bytes with the injected hash", () => {
    const spki = new Uint8Array([48, 0]);
    assert.equal(computePin(spki, sha256), `sha256/${createHash("sha256").update(spki).digest("base64")}`);
  });

  it("encodes any digest as Node's base64 does, and each call returns its own string", () => {
    const digests = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(digests, digests, (a, b) => {
        const pinA = computePin(new Uint8Array(0), () => a);
        const pinB = computePin(new Uint8Array(0), () => b);
        assert.equal(pinA, `sha256/${Buffer.from(a).toString("base64")}`);
        assert.equal(pinB, `sha256/${Buffer.from(b).toString("base64")}`);
        assert.equal(parsePin(pinA), pinA);
        // The pin string is built in a reused buffer: an earlier result must not change with a later call.
        assert.equal(pinA === pinB, Buffer.from(a).equals(Buffer.from(b)));
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses a hash function that does not return 32 bytes", () => {
    assert.throws(() => computePin(new Uint8Array(1), () => new Uint8Array(20)), { code: "ERR_KEYPIN_HASH" });
  });

  it("takes the digest's base64 from the hash's own base64 form when it has one", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (digest) => {
        let byteCalls = 0;
        const seen: Uint8Array[] = [];
        const bytes = () => {
          byteCalls++;
          return digest;
        };
        const hash = Object.assign(bytes, {
          base64: (data: Uint8Array) => {
            seen.push(data);
            return Buffer.from(digest).toString("base64");
          },
        });
        const spki = new Uint8Array([1, 2, 3]);
        const pin = computePin(spki, hash);
        assert.equal(
          pin,
          computePin(spki, () => digest),
        );
        assert.equal(parsePin(pin), pin);
        assert.equal(byteCalls, 0);
        assert.deepEqual(seen, [spki]);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses a base64 form that is not the 44 padded characters of a 32-byte digest", () => {
    const bytes = () => new Uint8Array(32);
    for (const wrong of [
      "00".repeat(32), // hex
      Buffer.alloc(32).toString("base64url"), // no padding: 43 characters
      Buffer.alloc(20).toString("base64"), // SHA-1 sized
      `${Buffer.alloc(32).toString("base64")}\n`,
      "A".repeat(44), // 44 characters, but 33 bytes: no padding
      undefined,
    ]) {
      const hash = Object.assign(bytes, { base64: () => wrong as unknown as string });
      assert.throws(() => computePin(new Uint8Array(1), hash), { code: "ERR_KEYPIN_HASH" }, String(wrong));
    }
  });

  it("gives the bare base64 and the HPKP form of a pin", () => {
    assert.equal(pinToBase64(canonical), bare);
    assert.equal(formatHpkpPin(canonical), `pin-sha256="${bare}"`);
  });
});
