import {
  DATE_PATTERN,
  HOSTNAME_PATTERN,
  IPV4_PATTERN,
  IPV6_PATTERN,
  LABEL_SCHEMA_PATTERN,
  PIN_PATTERN,
  REPORT_URI_PATTERN,
} from "./patterns.js";

/**
 * The JSON Schema (draft 2020-12) of keypin.json, the same content as the `keypin.schema.json` file
 * shipped in this package (`"$schema": "./node_modules/@keypin/core/keypin.schema.json"` gives editors
 * completion). It accepts exactly the documents {@link validatePolicy} accepts.
 *
 * @example
 * ```ts
 * import Ajv2020 from "ajv/dist/2020.js";
 * const valid = new Ajv2020().compile(policySchema)(json);
 * ```
 */
export const policySchema: Record<string, unknown> = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "keypin policy",
  description: "SSL public-key pins per domain. See @keypin/core.",
  type: "object",
  additionalProperties: false,
  required: ["domains"],
  properties: {
    $schema: { type: "string", description: "Path or URL of this schema, for editors." },
    domains: {
      type: "object",
      description:
        "Pins per host name or IP address. No wildcards: use includeSubdomains. Internationalized names in their xn-- (punycode) form; keypin also checks that each xn-- label decodes and that no two keys name the same host (case, trailing dot, IP address spellings), which a JSON Schema cannot.",
      minProperties: 1,
      propertyNames: {
        type: "string",
        anyOf: [{ pattern: HOSTNAME_PATTERN }, { pattern: IPV4_PATTERN }, { pattern: IPV6_PATTERN }],
      },
      additionalProperties: { $ref: "#/$defs/domain" },
    },
  },
  $defs: {
    domain: {
      type: "object",
      additionalProperties: false,
      required: ["pins"],
      properties: {
        includeSubdomains: {
          type: "boolean",
          default: false,
          description: "Also pin every subdomain, at any depth, that has no more specific entry.",
        },
        pins: {
          type: "array",
          minItems: 1,
          description: "SHA-256 SPKI pins. Include a backup key that is not in the current chain.",
          items: {
            anyOf: [
              { $ref: "#/$defs/pin" },
              {
                type: "object",
                additionalProperties: false,
                required: ["pin"],
                properties: {
                  pin: { $ref: "#/$defs/pin" },
                  role: { enum: ["leaf", "intermediate", "root", "backup"] },
                  label: {
                    type: "string",
                    pattern: LABEL_SCHEMA_PATTERN,
                    description:
                      "Free text about the key. Written into XML and plist comments, so only characters XML 1.0 allows (no control characters but tab and line breaks, no U+FFFE, U+FFFF or unpaired surrogates).",
                  },
                },
              },
            ],
          },
        },
        expires: {
          type: "string",
          pattern: DATE_PATTERN,
          description:
            "yyyy-MM-dd (UTC). Pins hold through the end of that day; after it the domain is NOT pinned.",
        },
        mode: { enum: ["enforce", "report-only"], default: "enforce" },
        reportUris: {
          type: "array",
          items: { type: "string", pattern: REPORT_URI_PATTERN },
          description:
            "Where pin-failure reports (RFC 7469 + TrustKit fields) are sent: absolute http(s) URIs as RFC 3986 writes them (ASCII; percent-encode other characters, not in the host).",
        },
        renewal: {
          type: "object",
          additionalProperties: false,
          required: ["reuseKey"],
          description:
            "How the host's certificate is renewed, as far as the pins depend on it. Not a pin: exporters ignore it; keypin plan and lint read it.",
          properties: {
            reuseKey: {
              type: "boolean",
              description:
                "true: every renewal keeps the leaf key (certbot --reuse-key, lego --reuse-key, cert-manager rotationPolicy: Never), so a pinned leaf key survives renewals. keypin init writes it for iOS ATS leaf identities. false or absent: keypin plan assumes each renewal makes a new key.",
            },
          },
        },
      },
    },
    pin: {
      type: "string",
      pattern: PIN_PATTERN,
      description: 'sha256/<base64 of 32 bytes>, pin-sha256="<base64>" or the bare base64.',
    },
  },
};
