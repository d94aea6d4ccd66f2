// Certificate times: UTCTime and GeneralizedTime.

import { decodeLatin1 } from "../bytes.js";
import { type DerNode, TAG, tagName, valueBytes } from "../der.js";
import { KeypinParseError } from "../errors.js";

export function readTime(der: Uint8Array, node: DerNode): Date {
  const text = decodeLatin1(valueBytes(der, node));
  let m: RegExpExecArray | null;
  let year: number;
  if (node.tag === TAG.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (m) {
      const yy = Number(m[1]);
      year = yy >= 50 ? 1900 + yy : 2000 + yy;
    } else year = 0;
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/.exec(text);
    year = m ? Number(m[1]) : 0;
  } else {
    throw new KeypinParseError(
      `expected a UTCTime or GeneralizedTime at byte ${node.start}, found ${tagName(node.tag)}`,
      node.start,
    );
  }
  if (!m)
    throw new KeypinParseError(
      `malformed time ${JSON.stringify(text.slice(0, 40))} at byte ${node.start}`,
      node.start,
    );
  const [mo, d, h, mi, s] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  if (
    mo < 1 ||
    mo > 12 ||
    date.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59 ||
    Number.isNaN(date.getTime())
  ) {
    throw new KeypinParseError(
      `time ${JSON.stringify(text)} at byte ${node.start} is not a real date`,
      node.start,
    );
  }
  if (year < 100) date.setUTCFullYear(year);
  return date;
}
