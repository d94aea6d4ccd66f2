// An intercepting HTTPS proxy like Charles or mitmproxy: it answers CONNECT, forges a certificate for the
// requested name with a CA the client trusts, reads the decrypted request (logging its bearer token) and forwards it
// to the real server. It counts the application bytes it received, so a test can prove a pinned client sent none.
import { once } from "node:events";
import { createServer as createHttpServer } from "node:http";
import type { Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket, connect as tlsConnect } from "node:tls";
import { trackSockets } from "./net.js";
import { issueLeaf, type TestCert } from "./pki.js";

export interface InterceptingProxy {
  url: string;
  /** CONNECT requests received ("host:port"). */
  connects: string[];
  /** TLS handshakes completed with clients (the forgery was presented and accepted by OpenSSL). */
  handshakes: number;
  /** Decrypted application bytes received from clients. */
  applicationBytes: number;
  /** Authorization headers seen in decrypted requests. */
  tokens: string[];
  close: () => Promise<void>;
}

export interface InterceptOptions {
  /** The CA the device trusts (attacker-controlled), which signs the forged leaves. */
  ca: TestCert;
  /** Certificates appended after the forged leaf in the served chain (e.g. the genuine pinned intermediate). */
  append?: string;
  /** Forge a leaf for a name: defaults to a P-256 leaf signed by `ca`. */
  forge?: (servername: string) => Promise<TestCert>;
}

export async function startInterceptingProxy(options: InterceptOptions): Promise<InterceptingProxy> {
  const contexts = new Map<string, Promise<SecureContext>>();
  const contextFor = (servername: string): Promise<SecureContext> => {
    let context = contexts.get(servername);
    if (!context) {
      context = (options.forge ?? ((name) => issueLeaf("p256", [name], options.ca)))(servername).then(
        (leaf) => createSecureContext({ key: leaf.keyPem, cert: leaf.pem + (options.append ?? "") }),
      );
      contexts.set(servername, context);
    }
    return context;
  };
  const server = createHttpServer();
  const result: InterceptingProxy = {
    url: "",
    connects: [],
    handshakes: 0,
    applicationBytes: 0,
    tokens: [],
    close: trackSockets(server),
  };
  server.on("connect", (req, client: Socket) => {
    const target = req.url ?? "";
    result.connects.push(target);
    const port = Number(new URL(`http://${target}`).port);
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    const tls = new TLSSocket(client, {
      isServer: true,
      SNICallback: (name, cb) => {
        contextFor(name).then(
          (context) => cb(null, context),
          (error: Error) => cb(error),
        );
      },
    });
    let upstream: TLSSocket | undefined;
    let text = "";
    tls.on("secure", () => {
      result.handshakes++;
      const servername = (tls as TLSSocket & { servername?: string }).servername || "localhost";
      // The attacker does not care whether the real server is genuine.
      upstream = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false });
      upstream.on("error", () => tls.destroy());
      upstream.pipe(tls);
    });
    tls.on("data", (chunk: Buffer) => {
      result.applicationBytes += chunk.length;
      text += chunk.toString("latin1");
      for (const match of text.matchAll(/^authorization: *(.+?)\r$/gim)) {
        if (!result.tokens.includes(match[1]!)) result.tokens.push(match[1]!);
      }
      upstream?.write(chunk);
    });
    tls.on("error", () => upstream?.destroy());
    tls.on("close", () => upstream?.destroy());
    client.on("error", () => tls.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  result.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return result;
}
