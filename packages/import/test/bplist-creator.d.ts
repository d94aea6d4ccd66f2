// bplist-creator (an outside binary plist writer for the tests) ships no types.
declare module "bplist-creator" {
  export default function createBinaryPlist(value: unknown): Buffer;
}
