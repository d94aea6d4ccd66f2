// The page's static files, from one flat folder (the client build, dist/client/). A request names a file; the
// server serves it only if that exact name is a regular file listed in the folder with a known type, so no
// `..`, no encoded slash, no dot file and no symlink out of the folder is ever read.
import { lstat, readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

const safeName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A static file to send. */
export interface Asset {
  contentType: string;
  body: Buffer;
}

/**
 * Reads `name` from `dir` if it is one of the folder's own regular files with a known type, else `undefined`.
 *
 * @example
 * await readAsset("dist/client", "app.js"); // { contentType: "text/javascript; charset=utf-8", body }
 * await readAsset("dist/client", "../package.json"); // undefined
 */
export async function readAsset(dir: string, name: string): Promise<Asset | undefined> {
  if (!safeName.test(name)) return undefined;
  const contentType = contentTypes[extname(name).toLowerCase()];
  if (contentType === undefined) return undefined;
  let listed: string[];
  try {
    listed = await readdir(dir);
  } catch {
    return undefined;
  }
  if (!listed.includes(name)) return undefined;
  const path = join(dir, name);
  try {
    const stat = await lstat(path);
    if (!stat.isFile()) return undefined;
    return { contentType, body: await readFile(path) };
  } catch {
    return undefined;
  }
}
