// The shape of react-native-ssl-public-key-pinning's API that fixtures/pinning.ts uses (the library is not a
// dependency: the fixture is read by the importer, never run), so that the fixture type-checks.
declare module "react-native-ssl-public-key-pinning" {
  export type PinningOptions = Record<
    string,
    { includeSubdomains?: boolean; publicKeyHashes: string[]; expirationDate?: string }
  >;
  export function initializeSslPinning(options: PinningOptions): Promise<void>;
}
