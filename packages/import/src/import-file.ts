// Which reader a file needs, from its content and name.
import { short } from "./common.js";
import { ImportError } from "./errors.js";
import { importAndroidNsc } from "./formats/android-nsc.js";
import { importIosPlist } from "./formats/ios-plist.js";
import { importOkHttp } from "./formats/okhttp.js";
import { importReactNative } from "./formats/react-native.js";
import { isBinaryPlist } from "./plist.js";
import type { ImportFormat, ImportResult } from "./types.js";

/**
 * The format of a file: binary plists by their magic, XML by its root element, source code by its extension.
 * Undefined when keypin cannot tell.
 *
 * @example
 * ```ts
 * detectFormat("PinningConfig.kt", text); // "okhttp-kotlin"
 * ```
 */
export function detectFormat(file: string, content: Uint8Array | string): ImportFormat | undefined {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  if (isBinaryPlist(bytes)) return "ios-plist";
  const lower = file.toLowerCase();
  if (/\.kts?$/.test(lower)) return "okhttp-kotlin";
  if (lower.endsWith(".java")) return "okhttp-java";
  if (/\.(c|m)?(j|t)sx?$/.test(lower)) return "react-native";
  const head = new TextDecoder().decode(bytes.subarray(0, 4096)).replace(/<!--[\s\S]*?-->/g, "");
  if (/<network-security-config[\s>]/.test(head)) return "android-nsc";
  if (/<plist[\s>]|<!DOCTYPE plist/.test(head) || lower.endsWith(".plist")) return "ios-plist";
  return undefined;
}

/**
 * Reads one file's pins. `file` is the name used in places and messages (as the user wrote it). A file
 * that keypin cannot read at all is an {@link ImportError} (code `ERR_KEYPIN_IMPORT`); everything it could
 * read but not carry over exactly is in each source's `findings`.
 *
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { importFile } from "@keypin/import";
 *
 * const file = "app/src/main/res/xml/network_security_config.xml";
 * for (const source of importFile(file, readFileSync(file)).sources) {
 *   for (const d of source.domains) console.log(source.platform, d.domain, d.pins.length);
 * }
 * ```
 */
export function importFile(file: string, content: Uint8Array | string, format?: ImportFormat): ImportResult {
  try {
    return readFile(file, content, format);
  } catch (error) {
    if (error instanceof ImportError) throw error;
    // A reader that fails unexpectedly (a RangeError from a file built to exhaust it, or a bug) still ends in one
    // line about this file, never in its input: the message is cut and kept on one line.
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ImportError(
      { file },
      `keypin failed to read this file (${short(why.replace(/\s+/g, " "))}); please report it with the file if you can share it`,
      { cause: error },
    );
  }
}

function readFile(file: string, content: Uint8Array | string, format?: ImportFormat): ImportResult {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  const chosen = format ?? detectFormat(file, bytes);
  if (chosen === undefined) {
    throw new ImportError(
      { file },
      "not a format keypin imports: expected an Android network security config (XML), an iOS plist (XML or binary), OkHttp Kotlin/Java source (.kt, .java) or React Native source (.js, .ts)",
    );
  }
  let text = "";
  if (chosen !== "ios-plist") {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes).replace(/^\uFEFF/, "");
    } catch (error) {
      throw new ImportError({ file }, "not UTF-8 text", { cause: error });
    }
  }
  switch (chosen) {
    case "android-nsc":
      return { file, format: chosen, sources: [importAndroidNsc(text, file)] };
    case "ios-plist":
      return { file, format: chosen, sources: importIosPlist(bytes, file) };
    case "okhttp-kotlin":
      return { file, format: chosen, sources: [importOkHttp(text, file, "kotlin")] };
    case "okhttp-java":
      return { file, format: chosen, sources: [importOkHttp(text, file, "java")] };
    case "react-native":
      return { file, format: chosen, sources: [importReactNative(text, file)] };
    default: {
      const never: never = chosen;
      throw new TypeError(`unknown import format ${String(never)}`);
    }
  }
}
