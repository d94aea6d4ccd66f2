// @keypin/core: the public API. Pure and synchronous: no runtime dependencies, no node: imports.

export { BoundedCache } from "./bounded-cache.js";
export { pinOfCertificate, spkiOfCertificate } from "./certificate-pin.js";
export {
  errorCodes,
  errorKindOf,
  isKeypinErrorCode,
  type KeypinErrorCode,
  type KeypinErrorKind,
} from "./error-codes.js";
export { isKeypinError, KeypinError, KeypinParseError, PolicyError } from "./errors.js";
export { findDomainPolicy, isIpAddress, normalizeHost } from "./host.js";
export { decodePem, encodePem, type PemBlock } from "./pem.js";
export { computePin, formatHpkpPin, parsePin, pinToBase64 } from "./pin.js";
export { lintPolicy } from "./policy/lint.js";
export { normalizePolicy } from "./policy/normalize.js";
export { LINT_PLATFORMS, type LintPlatform } from "./policy/platform-lint.js";
export { parsePolicy, validatePolicy } from "./policy/validate.js";
export { buildPinFailureReport, reportDedupeKey, TRUSTKIT_VALIDATION_RESULT } from "./report.js";
export { policySchema } from "./schema.js";
export type {
  ChainEntry,
  DomainPolicy,
  DomainPolicyInput,
  LintFinding,
  Pin,
  PinFailureReport,
  PinnedKey,
  PinRole,
  PinVerdict,
  Policy,
  PolicyFile,
  PolicyProblem,
  PolicyValidation,
  Sha256,
} from "./types.js";
export { evaluateChain } from "./verdict.js";
export { type CertificateInfo, parseCertificate, type SignatureAlgorithm } from "./x509/certificate.js";
export type { CertificateConstraints, KeyUsage, NameSubtree } from "./x509/extensions.js";
export { type KeyMaterial, readKeyMaterial } from "./x509/key-material.js";
export {
  certificateViolation,
  isSelfIssued,
  issuerViolation,
  type NameCheckBudget,
  nameConstraintsViolation,
  type PathRuleReason,
  type PathRuleViolation,
  pathLengthViolation,
} from "./x509/path-rules.js";
export {
  type Pbes2,
  type Pbes2Kdf,
  type Pkcs12Pbe,
  PRIVATE_KEY_LIMITS,
  privateKeyRefusal,
  readPbes2,
  readPkcs12Pbe,
} from "./x509/private-key-shape.js";
export { parseSpki } from "./x509/spki.js";
