// The export formats, one line each, in the order the CLI lists them. Adding a format: write
// formats/<name>.ts exporting a defineExportFormat(…) descriptor, and add it here.
import { androidNsc } from "./android-nsc.js";
import { iosAts } from "./ios-ats.js";
import { node } from "./node.js";
import { okhttpJava } from "./okhttp-java.js";
import { okhttpKotlin } from "./okhttp-kotlin.js";
import { reactNative } from "./react-native.js";
import { trustkit } from "./trustkit.js";

export const formats = [androidNsc, iosAts, trustkit, okhttpKotlin, okhttpJava, reactNative, node] as const;
