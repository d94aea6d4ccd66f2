import { once } from "node:events";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { LabCertificate } from "./certificates.js";

/**
 * A request the backend answered, as the backend itself saw it.
 *
 * @example
 * backend.onRequest = (request: BackendRequest) => console.log(request.method, request.path, request.status);
 */
export interface BackendRequest {
  method: string;
  path: string;
  /** Whether the bearer token was the one issued for this run. */
  authorized: boolean;
  status: number;
}

/**
 * The profile `GET /user/profile` returns: made-up data, like the token.
 *
 * @example
 * assert.equal(JSON.parse(body).email, labProfile.email);
 */
export const labProfile = {
  id: "u_1024",
  name: "Sam Example",
  email: "sam@example.test",
  plan: "pro",
} as const;

/**
 * The genuine `api.myapp.com`: an HTTPS server on 127.0.0.1 serving `GET /user/profile` to the run's
 * bearer token, with a certificate chain from the lab's public CA. It counts every request it serves.
 *
 * @example
 * const backend = await LabBackend.start({ leaf, intermediates: [intermediate], token });
 * backend.port; backend.hits;
 * await backend.close();
 */
export class LabBackend {
  /** Requests served since start (any path, any answer): the lab's independent witness of what got through. */
  hits = 0;
  readonly requests: BackendRequest[] = [];
  /** Called after each request served. */
  onRequest: ((request: BackendRequest) => void) | undefined;
  #leaf: LabCertificate;
  readonly #intermediates: LabCertificate[];
  readonly #server: Server;
  readonly #token: string;

  private constructor(server: Server, leaf: LabCertificate, intermediates: LabCertificate[], token: string) {
    this.#server = server;
    this.#leaf = leaf;
    this.#intermediates = intermediates;
    this.#token = token;
    server.on("request", (req, res) => {
      this.hits += 1;
      const path = req.url ?? "/";
      const authorized = req.headers.authorization === `Bearer ${this.#token}`;
      let status: number;
      let body: unknown;
      if (req.method !== "GET" || path !== "/user/profile") {
        status = 404;
        body = { error: "not found" };
      } else if (!authorized) {
        status = 401;
        body = { error: "missing or wrong bearer token" };
      } else {
        status = 200;
        body = labProfile;
      }
      const served: BackendRequest = { method: req.method ?? "GET", path, authorized, status };
      this.requests.push(served);
      this.onRequest?.(served);
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      res.end(text);
    });
  }

  /** Starts the backend on 127.0.0.1, on a port the system picks. */
  static async start(options: {
    leaf: LabCertificate;
    intermediates: LabCertificate[];
    token: string;
  }): Promise<LabBackend> {
    const server = createServer({
      key: options.leaf.key.privateKeyPem,
      cert: chainPem(options.leaf, options.intermediates),
    });
    const backend = new LabBackend(server, options.leaf, options.intermediates, options.token);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return backend;
  }

  /** The port it listens on (127.0.0.1). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** The leaf certificate it serves now. */
  get leaf(): LabCertificate {
    return this.#leaf;
  }

  /** Serves a new leaf (a key rotation) on every new connection from now on. */
  rotate(leaf: LabCertificate): void {
    this.#leaf = leaf;
    this.#server.setSecureContext({ key: leaf.key.privateKeyPem, cert: chainPem(leaf, this.#intermediates) });
    // Connections made under the old certificate must not carry on under the new one.
    this.#server.closeIdleConnections();
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = once(this.#server, "close");
    this.#server.close();
    this.#server.closeAllConnections();
    await closed;
  }
}

function chainPem(leaf: LabCertificate, intermediates: LabCertificate[]): string {
  return [leaf, ...intermediates].map((c) => c.pem).join("");
}
