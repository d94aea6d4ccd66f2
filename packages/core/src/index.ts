export { KeypinError } from "./errors.js";
