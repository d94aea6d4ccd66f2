// Run by trust-store.test.ts in a child process started with NODE_EXTRA_CA_CERTS: Node reads that file only at
// start-up. Prints one JSON line with what each client concluded.
import { rootCertificates } from "node:tls";
import { decodePem } from "@keypin/core";
import { buildVerifiedPath, createPinnedDispatcher, inspectTls } from "@keypin/node";
import { keypinCodeOf, lookupLocal } from "@keypin/testkit";
import { fetch } from "undici";

const port = Number(process.env["KP_PORT"]);
const pins = JSON.parse(process.env["KP_PINS"] ?? "[]") as string[];
const host = "api.keypin.test";
const url = `https://${host}:${port}/`;
const policy = { domains: { [host]: { pins } } };
const result: Record<string, unknown> = {};

const pinned = createPinnedDispatcher({ policy, connect: { lookup: lookupLocal } });
try {
  const res = await fetch(url, { dispatcher: pinned });
  result["pinned"] = res.status;
  await res.arrayBuffer();
} catch (error) {
  result["pinned"] = keypinCodeOf(error) ?? String(error);
}
await pinned.close();

// With `ca` as well: the extra CA must stay trusted (Node's own `ca` would replace its default store).
const otherCa = process.env["KP_OTHER_CA"];
if (otherCa) {
  const withCa = createPinnedDispatcher({ policy, ca: [otherCa], connect: { lookup: lookupLocal } });
  try {
    const res = await fetch(url, { dispatcher: withCa });
    result["pinnedWithCa"] = res.status;
    await res.arrayBuffer();
  } catch (error) {
    result["pinnedWithCa"] =
      keypinCodeOf(error) ?? (error as { cause?: { code?: string } }).cause?.code ?? String(error);
  }
  await withCa.close();
}

const seen = await inspectTls({ host, port, connectHost: "127.0.0.1" });
result["inspectTrusted"] = seen.trusted;
result["inspectVerified"] = seen.verified?.length;

// The naive anchor set, tls.rootCertificates, does not contain the NODE_EXTRA_CA_CERTS certificates.
const naiveAnchors = rootCertificates.flatMap((pem) => decodePem(pem).map((block) => block.der));
result["naivePath"] = buildVerifiedPath(
  seen.served.map((c) => c.der),
  naiveAnchors,
)?.length;
console.log(JSON.stringify(result));
