// @keypin/lab-web: the keypin lab in a browser. `startLabWeb` serves the lab's run (server-sent events), its
// pins with openssl commands, the pin set rendered for each platform and the run's files from 127.0.0.1.
// (The server lands in the next commits; this skeleton reserves the package in the workspace.)
export {};
