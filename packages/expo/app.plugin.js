// The entry Expo's plugin resolver looks for ("@keypin/expo" → @keypin/expo/app.plugin.js). Expo SDK 54+
// loads it with require(), which loads this ES module on Node 20.19+ and 22.12+ (require(esm)).
export { default } from "./dist/index.js";
