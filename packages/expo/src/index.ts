export { default, type KeypinExpoOptions } from "./with-keypin.js";
