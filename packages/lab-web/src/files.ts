// The files a run offers for download, by name. The names come from the run (never from a request): a
// download looks its name up in this list, so no path a client sends is ever joined to a folder.
import { policyOfRun, policyOfScenario, scenariosOf } from "./policy.js";
import type { LabWebRun } from "./run.js";

/** A file of a run. */
export interface RunFile {
  name: string;
  description: string;
  contentType: string;
  content: string;
}

/**
 * The run's files: `keypin.json` (the run's pin set: its first pinned scenario's), `keypin-<N>.json` for each
 * scenario whose app pins, every certificate the run showed (`*.pem`), and `sslkeylog.txt` (the NSS key log of
 * every TLS session the app opened, for Wireshark).
 *
 * @example
 * const file = runFiles(run).find((f) => f.name === "keypin.json");
 */
export function runFiles(run: LabWebRun): RunFile[] {
  const files: RunFile[] = [];
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const first = policyOfRun(run.events);
  if (first) {
    files.push({
      name: "keypin.json",
      description: `The run's pin set (the app's in scenario ${first.scenario}), for keypin check, export and init.`,
      contentType: "application/json; charset=utf-8",
      content: json(first.policy),
    });
  }
  for (const scenario of scenariosOf(run.events)) {
    const policy = policyOfScenario(run.events, scenario);
    if (!policy) continue;
    files.push({
      name: `keypin-${scenario}.json`,
      description: `The app's pin set in scenario ${scenario}.`,
      contentType: "application/json; charset=utf-8",
      content: json(policy),
    });
  }
  for (const certificate of run.certificates.values()) {
    files.push({
      name: certificate.name,
      description: `Certificate of ${certificate.subject} (${certificate.pin}), PEM.`,
      contentType: "application/x-pem-file",
      content: certificate.pem,
    });
  }
  files.push({
    name: "sslkeylog.txt",
    description:
      "The TLS session keys of every connection the app opened (NSS key log format): in Wireshark, Preferences › Protocols › TLS › (Pre)-Master-Secret log filename.",
    contentType: "text/plain; charset=utf-8",
    content: run.keylog.map((line) => `${line}\n`).join(""),
  });
  return files;
}
