// One run of the lab as the server holds it: its events in order (numbered from 0, the SSE ids), the live
// subscribers, the NSS key log lines, the certificates written to the run's folder, and how it ended.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Pin } from "@keypin/core";
import type { LabEvent, LabSummary } from "@keypin/lab";
import { type RunRequest, startRun } from "./lab-api.js";

/** Where a run is. */
export type RunStatus = "running" | "done" | "failed";

/** Who listens to a run's events as they are recorded (an SSE stream). */
export interface RunSubscriber {
  event(seq: number, json: string): void;
  end(status: RunStatus): void;
}

/** A certificate the run showed, written to the run's folder as PEM. */
export interface RunCertificate {
  /** The file's name in the run's folder (and in /files). */
  name: string;
  path: string;
  subject: string;
  pin: Pin;
  pem: string;
}

/** One certificate of one `extract-pin` step, with the file that holds it. */
export interface RunPin {
  scenario: number | null;
  /** The event's seq (its SSE id). */
  seq: number;
  pin: Pin;
  subject: string;
  certificate: RunCertificate;
}

interface CertificateData {
  subject: string;
  pin: Pin;
  pem: string;
}

function isCertificateData(value: unknown): value is CertificateData {
  const v = value as Partial<CertificateData> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.subject === "string" &&
    typeof v.pin === "string" &&
    typeof v.pem === "string" &&
    v.pem.includes("-----BEGIN CERTIFICATE-----")
  );
}

/** A file name for a certificate: its subject's readable part and the start of the PEM's SHA-256. */
function certificateFileName(subject: string, pem: string): string {
  const name = /CN=([^,]+)/i.exec(subject)?.[1] ?? subject;
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || "certificate";
  return `${slug}-${createHash("sha256").update(pem).digest("hex").slice(0, 12)}.pem`;
}

export interface LabWebRunOptions {
  id: string;
  request: RunRequest;
  /** The run's own folder (created here, removed by the server with its parent). */
  dir: string;
  /** Spaces the recorded events by this many milliseconds (0: as the lab emits them). */
  eventDelayMs: number;
}

/**
 * A lab run: starts at once, records every event (then tells the subscribers), ends `done` or `failed`.
 *
 * @example
 * const run = new LabWebRun({ id: "r1", request: { scenarios: [3] }, dir, eventDelayMs: 0 });
 * await run.finished;
 */
export class LabWebRun {
  readonly id: string;
  readonly request: RunRequest;
  readonly dir: string;
  readonly events: LabEvent[] = [];
  /** Each event as JSON, as sent (the SSE data and the JSON Lines). */
  readonly jsonEvents: string[] = [];
  readonly keylog: string[] = [];
  readonly certificates = new Map<string, RunCertificate>();
  readonly pins: RunPin[] = [];
  status: RunStatus = "running";
  summary: LabSummary | undefined;
  error: { code: string; message: string } | undefined;
  /** Settles (never rejects) when the run has ended and every event is recorded. */
  readonly finished: Promise<void>;
  readonly #subscribers = new Set<RunSubscriber>();
  readonly #controller = new AbortController();
  readonly #delay: number;
  readonly #pending: LabEvent[] = [];
  #pump: Promise<void> = Promise.resolve();

  constructor(options: LabWebRunOptions) {
    this.id = options.id;
    this.request = options.request;
    this.dir = options.dir;
    this.#delay = options.eventDelayMs;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.finished = this.#run();
  }

  async #run(): Promise<void> {
    try {
      const summary = await startRun({
        request: this.request,
        signal: this.#controller.signal,
        onEvent: (event) => this.#receive(event),
        onKeylog: (line) => {
          this.keylog.push(line);
        },
      });
      await this.#pump;
      this.summary = summary;
      this.status = "done";
    } catch (error) {
      await this.#pump;
      const e = error as { code?: unknown; message?: unknown };
      this.error = {
        code: typeof e?.code === "string" ? e.code : "ERR_LAB_WEB_RUN",
        message: this.#controller.signal.aborted
          ? "The run was stopped before its end (the server is closing)."
          : typeof e?.message === "string"
            ? e.message
            : "The run failed.",
      };
      this.status = "failed";
    }
    for (const subscriber of this.#subscribers) subscriber.end(this.status);
    this.#subscribers.clear();
  }

  #receive(event: LabEvent): void {
    if (this.#delay <= 0) {
      this.#record(event);
      return;
    }
    this.#pending.push(event);
    if (this.#pending.length === 1) this.#pump = this.#drain();
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.#delay));
      const next = this.#pending.shift();
      if (next) this.#record(next);
    }
  }

  #record(event: LabEvent): void {
    const seq = this.events.length;
    const json = JSON.stringify(event);
    this.events.push(event);
    this.jsonEvents.push(json);
    if (event.type === "step") this.#keepCertificates(event, seq);
    for (const subscriber of this.#subscribers) subscriber.event(seq, json);
  }

  /** Writes every certificate a step carries (PEM, public only) and notes the pins of `extract-pin` steps. */
  #keepCertificates(event: Extract<LabEvent, { type: "step" }>, seq: number): void {
    const data = event.data as Record<string, unknown>;
    const lists =
      event.step === "extract-pin"
        ? [data["certificates"]]
        : event.step === "certificate"
          ? [data["presented"], data["real"]]
          : [];
    for (const list of lists) {
      if (!Array.isArray(list)) continue;
      for (const item of list) {
        if (!isCertificateData(item)) continue;
        const certificate = this.#write(item);
        if (event.step === "extract-pin") {
          this.pins.push({
            scenario: event.scenario,
            seq,
            pin: item.pin,
            subject: item.subject,
            certificate,
          });
        }
      }
    }
  }

  #write(item: CertificateData): RunCertificate {
    const name = certificateFileName(item.subject, item.pem);
    const known = this.certificates.get(name);
    if (known) return known;
    const path = join(this.dir, name);
    const pem = item.pem.endsWith("\n") ? item.pem : `${item.pem}\n`;
    writeFileSync(path, pem, { mode: 0o600 });
    const certificate = { name, path, subject: item.subject, pin: item.pin, pem };
    this.certificates.set(name, certificate);
    return certificate;
  }

  /** Sends the events after `after` (all with -1), then the live ones, then the end. Returns the unsubscribe. */
  subscribe(subscriber: RunSubscriber, after: number): () => void {
    for (let seq = after + 1; seq < this.jsonEvents.length; seq++)
      subscriber.event(seq, this.jsonEvents[seq]!);
    if (this.status !== "running") {
      subscriber.end(this.status);
      return () => {};
    }
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Stops the run (the lab closes its cast); `finished` settles after. */
  stop(): void {
    this.#pending.length = 0;
    this.#controller.abort(new Error("the lab server is closing"));
  }
}
