// @keypin/lab-web: the keypin lab in a browser. `startLabWeb` serves the lab's run (server-sent events), its
// pins with openssl commands, the pin set rendered for each platform and the run's files from 127.0.0.1.

export { type LabWebErrorCode, labWebErrorStatus } from "./errors.js";
export type { PinListing } from "./pins.js";
export type { PlatformConfig } from "./platforms.js";
export { type LabWeb, type LabWebOptions, startLabWeb } from "./server.js";
