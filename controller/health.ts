// /healthz (the process is alive), /readyz (caches synced, or standing by for the Lease) and
// /metrics for the controller.
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export type HealthState = () => { ready: boolean; leader: boolean; synced: boolean };

export async function startHealthServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  state: HealthState;
}): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n");
    if (path === "/healthz") return send(200, "ok\n");
    if (path === "/readyz") {
      const s = opts.state();
      return send(s.ready ? 200 : 503, `${JSON.stringify(s)}\n`, "application/json");
    }
    if (path === "/metrics") {
      opts.registry
        .metrics()
        .then((text) => send(200, text, opts.registry.contentType))
        .catch((err: Error) => send(500, `${err.message}\n`));
      return;
    }
    send(404, "not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
