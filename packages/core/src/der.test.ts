import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeBase64, decodeUtf8, encodeBase64 } from "./bytes.js";
import { childrenOf, readNode, readOid } from "./der.js";
import { KeypinParseError } from "./errors.js";

function offsetOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KeypinParseError, String(e));
    return e.offset;
  }
  assert.fail("expected a KeypinParseError");
}

describe("DER reader", () => {
  it("reads short and long lengths and the children of a SEQUENCE", () => {
    const long = new Uint8Array([0x30, 0x81, 0x85, 0x04, 0x81, 0x80, ...new Uint8Array(128), 0x05, 0x00]);
    const node = readNode(long, 0);
    assert.deepEqual(node, { tag: 0x30, start: 0, valueStart: 3, end: 136 });
    assert.deepEqual(
      childrenOf(long, node).map((c) => [c.tag, c.start, c.end]),
      [
        [0x04, 3, 134],
        [0x05, 134, 136],
      ],
    );
  });

  it("refuses an indefinite length, which BER allows and DER does not, at the length byte", () => {
    assert.equal(
      offsetOf(() => readNode(new Uint8Array([0x30, 0x80, 0x00, 0x00]), 0)),
      1,
    );
  });

  it("refuses a length that is not minimally encoded", () => {
    assert.equal(
      offsetOf(() => readNode(new Uint8Array([0x04, 0x81, 0x01, 0xaa]), 0)),
      1,
    );
    assert.equal(
      offsetOf(() => readNode(new Uint8Array([0x04, 0x82, 0x00, 0x81, ...new Uint8Array(0x81)]), 0)),
      1,
    );
  });

  it("refuses a value that runs past its container, pointing at the element", () => {
    const bytes = new Uint8Array([0x30, 0x04, 0x02, 0x05, 0x01, 0x02]);
    const outer = readNode(bytes, 0);
    assert.equal(
      offsetOf(() => childrenOf(bytes, outer)),
      2,
    );
    assert.equal(
      offsetOf(() => readNode(new Uint8Array([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]), 0)),
      0,
    );
  });

  it("refuses high tag numbers and lengths longer than four bytes", () => {
    assert.equal(
      offsetOf(() => readNode(new Uint8Array([0x1f, 0x81, 0x01, 0x00]), 0)),
      0,
    );
    assert.equal(
      offsetOf(() => readNode(new Uint8Array([0x04, 0x85, 1, 0, 0, 0, 0]), 0)),
      1,
    );
  });

  it("decodes object identifiers, including large arcs", () => {
    const oid = (hex: string) => {
      const bytes = Uint8Array.from(Buffer.from(hex, "hex"));
      return readOid(bytes, readNode(bytes, 0));
    };
    assert.equal(oid("06092a864886f70d010101"), "1.2.840.113549.1.1.1");
    assert.equal(oid("06032b6570"), "1.3.101.112");
    assert.equal(oid("0603883703"), "2.999.3");
    assert.equal(
      offsetOf(() => oid("06022a86")),
      4,
    );
  });
});

describe("byte helpers", () => {
  it("encode and decode base64 exactly as Node's Buffer does", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const b64 = encodeBase64(bytes);
        assert.equal(b64, Buffer.from(bytes).toString("base64"));
        assert.deepEqual(decodeBase64(b64), bytes);
      }),
      { numRuns: 500 },
    );
  });

  it("encode base64 longer than one String.fromCharCode call (8,190 characters) as Buffer does", () => {
    for (const length of [6141, 6142, 6143, 6144, 20_000, 100_001]) {
      const bytes = new Uint8Array(length).map((_, i) => (i * 131 + (i >> 8)) & 0xff);
      assert.equal(encodeBase64(bytes), Buffer.from(bytes).toString("base64"), `${length} bytes`);
    }
  });

  it("decode UTF-8 as TextDecoder does, replacing invalid sequences", () => {
    const decoder = new TextDecoder("utf-8");
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.string({ unit: "grapheme" }).map((s) => new TextEncoder().encode(s)),
        ),
        (bytes) => {
          assert.equal(decodeUtf8(bytes), decoder.decode(bytes));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
