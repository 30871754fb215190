// The agent's HTTP API (node:http: a handful of routes on a sidecar needs no framework).
//   POST   /adapters/load              {tenant, adapter, version, source, sha256?} → LoadResult
//   GET    /adapters                   inventory; `loaded` checked against the engine right now
//   POST   /adapters/reconcile         compare with the engine now and reload what it lost
//   DELETE /adapters/{lora_name}       unload from the engine, then delete from disk
//   DELETE /tenants/{tenant}/adapters  erasure of every adapter of the tenant → {removed}
//   GET    /health                     200 only while the engine's /health is OK
//   GET    /metrics                    Prometheus text
// It has no authentication of its own: only the router may reach it (the pool's NetworkPolicy).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AgentHealth, AgentInventory } from "../agent-api/types.ts";
import type { Logger } from "../core/log.ts";
import type { AdapterManager } from "./adapter-manager.ts";
import type { DiskCache } from "./disk-cache.ts";
import type { EngineClient } from "./engine-client.ts";
import { AgentFailure, asFailure } from "./errors.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { Reconciler } from "./reconcile.ts";
import { parseLoadRequest, parseLoraNameParam, parseTenantParam } from "./request-schema.ts";

const MAX_BODY = 64 * 1024;

export type ServerDeps = {
  manager: AdapterManager;
  reconciler: Reconciler;
  cache: DiskCache;
  engine: EngineClient;
  metrics: AgentMetrics;
  logger: Logger;
};

export function createAgentServer(deps: ServerDeps): Server {
  const server = createServer((req, res) => {
    route(deps, req, res).catch((err) => {
      const failure = asFailure(err);
      if (failure.status === 500) deps.logger.error({ err }, "unhandled error in agent request");
      send(res, failure.status, failure.toJSON());
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

async function route(deps: ServerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { manager, reconciler, cache } = deps;
  const path = (req.url ?? "/").split("?")[0]!;
  const method = req.method ?? "GET";

  if (path === "/adapters/load") {
    allow(method, "POST");
    const body = await readJson(req);
    return send(res, 200, await manager.load(parseLoadRequest(body)));
  }
  if (path === "/adapters") {
    allow(method, "GET");
    await reconciler.observe();
    const inventory: AgentInventory = {
      adapters: manager.list(),
      cache_bytes: cache.usedBytes,
      cache_max_bytes: cache.maxBytes,
    };
    return send(res, 200, inventory);
  }
  if (path === "/adapters/reconcile") {
    allow(method, "POST");
    return send(res, 200, await reconciler.reconcile());
  }
  const one = /^\/adapters\/([^/]+)$/.exec(path);
  if (one) {
    allow(method, "DELETE");
    return send(res, 200, await manager.remove(parseLoraNameParam(one[1]!)));
  }
  const tenant = /^\/tenants\/([^/]+)\/adapters$/.exec(path);
  if (tenant) {
    allow(method, "DELETE");
    return send(res, 200, await manager.eraseTenant(parseTenantParam(tenant[1]!)));
  }
  if (path === "/health") {
    allow(method, "GET");
    const h = await deps.engine.health();
    const body: AgentHealth = h.ok
      ? { status: "ok", engine: "ok" }
      : { status: "unavailable", engine: "unavailable", reason: h.reason };
    return send(res, h.ok ? 200 : 503, body);
  }
  if (path === "/metrics") {
    allow(method, "GET");
    const text = await deps.metrics.registry.metrics();
    res.writeHead(200, { "content-type": deps.metrics.registry.contentType });
    res.end(text);
    return;
  }
  throw new AgentFailure(404, "not_found", `no route ${method} ${path}`);
}

function allow(method: string, want: string): void {
  if (method !== want)
    throw new AgentFailure(405, "invalid_request", `method ${method} not allowed here; use ${want}`);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      // Past the limit, keep reading (and dropping) a while so the client sees our 413 instead
      // of a reset connection; a body far past it is cut off.
      if (size > MAX_BODY * 16) req.destroy();
      if (size <= MAX_BODY) chunks.push(chunk);
    }
  } catch {
    if (size <= MAX_BODY)
      throw new AgentFailure(400, "invalid_request", "the request body could not be read");
  }
  if (size > MAX_BODY)
    throw new AgentFailure(413, "invalid_request", `request body exceeds ${MAX_BODY} bytes`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new AgentFailure(400, "invalid_request", "request body is not valid JSON");
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
