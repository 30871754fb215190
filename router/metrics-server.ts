// The router's Prometheus endpoint, on its own listener. It shows every tenant's request and
// token counts, spend and caps, so it must never share the tenant-facing port: operators expose
// it to their scraper only (chart: a separate Service, scraped by the ServiceMonitor), and may
// also require a bearer token (LORAPLEX_METRICS_TOKEN).
import { timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export type MetricsServerOptions = {
  registry: Registry;
  /** When set, scrapes must send `Authorization: Bearer <token>`. */
  token?: string;
};

export function createMetricsServer(opts: MetricsServerOptions): Server {
  const want = opts.token ? Buffer.from(`Bearer ${opts.token}`) : undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (want && !sameSecret(req.headers.authorization, want)) {
      res
        .writeHead(401, { "content-type": "text/plain", "www-authenticate": "Bearer" })
        .end("unauthorized\n");
      return;
    }
    opts.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": opts.registry.contentType }).end(text),
      () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n"),
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return server;
}

function sameSecret(given: string | undefined, want: Buffer): boolean {
  if (given === undefined) return false;
  const g = Buffer.from(given);
  return g.length === want.length && timingSafeEqual(g, want);
}
