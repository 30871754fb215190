// The router's HTTP server. The hot-path endpoints are dispatched straight from node:http (no
// framework in the way of every request); everything else (admin API, later usage/dashboard)
// goes to an express app mounted as the fallback handler. /metrics is not here: it has its own
// listener (metrics-server.ts), never the tenant-facing port.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { ApiError, sendError } from "../core/errors.ts";
import { handleChatCompletions } from "./handlers/chat-completions.ts";
import { handleCompletions } from "./handlers/completions.ts";
import type { RouterDeps } from "./handlers/deps.ts";
import { handleEmbeddings } from "./handlers/embeddings.ts";
import { handleModels } from "./handlers/models.ts";
import { handleResponses } from "./responses/handler.ts";

export type Readiness = { ready: boolean; reasons: string[] };

export type ServerOptions = {
  deps: RouterDeps;
  readiness(everyPool?: boolean): Readiness;
  /** Longest time a client may take to send a whole request, body included. */
  requestTimeoutMs: number;
  /** Express routers (admin API, usage API, dashboard...) mounted at the root of the fallback app. */
  routers?: Router[];
};

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MODEL_PATH = "/v1/models/";

export function createRouterServer(opts: ServerOptions): Server {
  const { deps } = opts;
  const app = fallbackApp(opts);
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      // How often the request timeouts below are checked (Node's default is every 30 s).
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, opts.requestTimeoutMs / 4)),
    },
    (req, res) => {
      const receivedAt = performance.now();
      const requestId = requestIdFor(req.headers["x-request-id"]);
      // The client sees its own id echoed (or ours when it sent none or a bad one); set once here
      // so every answer carries it, whichever handler writes it.
      res.setHeader("x-request-id", requestId.echo);
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      let handled: Promise<void> | undefined;
      if (req.method === "POST") {
        if (path === "/v1/chat/completions")
          handled = handleChatCompletions(deps, req, res, receivedAt, requestId.id);
        else if (path === "/v1/completions")
          handled = handleCompletions(deps, req, res, receivedAt, requestId.id);
        else if (path === "/v1/embeddings")
          handled = handleEmbeddings(deps, req, res, receivedAt, requestId.id);
        else if (path === "/v1/responses")
          handled = handleResponses(deps, req, res, receivedAt, requestId.id);
      } else if (req.method === "GET") {
        if (path === "/v1/models") handled = handleModels(deps, req, res, receivedAt, requestId.id);
        else if (path.startsWith(MODEL_PATH) && path.length > MODEL_PATH.length) {
          const id = safeDecode(path.slice(MODEL_PATH.length));
          handled = handleModels(deps, req, res, receivedAt, requestId.id, id);
        } else if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
        else if (path === "/readyz") return readyz(res, opts.readiness(url.endsWith("?pools=all")));
      }
      if (handled) {
        handled.catch((err) => {
          deps.logger.error({ err, reqId: requestId.id }, "unhandled error on the request path");
          sendError(res, err);
        });
        return;
      }
      app(req, res);
    },
  );
  // Slow-loris bounds: headers within 30 s, the whole request (headers and body) within
  // requestTimeoutMs, else 408 and the connection closes. Only receiving the request is bounded;
  // a streamed response may run for as long as the engine streams.
  server.headersTimeout = Math.min(30_000, opts.requestTimeoutMs);
  server.requestTimeout = opts.requestTimeoutMs;
  return server;
}

function fallbackApp(opts: ServerOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(refuseNulInUrl);
  for (const router of opts.routers ?? []) app.use(router);
  app.use((req: Request, res: Response) => {
    const known = [
      "/v1/chat/completions",
      "/v1/completions",
      "/v1/embeddings",
      "/v1/models",
      "/v1/responses",
    ];
    const e = known.includes(req.path)
      ? new ApiError(405, `Method ${req.method} is not allowed on ${req.path}.`, {
          code: "method_not_allowed",
        })
      : new ApiError(404, `Unknown path: ${req.method} ${req.path}`, { code: "unknown_url" });
    sendError(res, e);
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // express's body parsers tag their errors with an HTTP status (400 bad JSON, 413 too large).
    const status = (err as { status?: unknown }).status;
    if (!(err instanceof ApiError) && typeof status === "number" && status >= 400 && status < 500) {
      sendError(res, new ApiError(status, (err as Error).message));
      return;
    }
    if (!(err instanceof ApiError)) opts.deps.logger.error({ err }, "admin/API handler failed");
    sendError(res, err);
  });
  return app;
}

/**
 * No id, cursor or query value of ours can hold NUL, and PostgreSQL refuses it in text: a URL
 * carrying one (raw or %00) is the client's 400 before any route sees it.
 */
function refuseNulInUrl(req: Request, _res: Response, next: NextFunction): void {
  const url = req.url;
  if (url.includes("\0") || /%00/i.test(url)) {
    throw new ApiError(400, "The URL contains a NUL character (%00), which no id or parameter may hold.", {
      code: "invalid_request",
    });
  }
  next();
}

/**
 * A sane client id is echoed back and starts the router's own id, `<client id>-<8 hex>`, which is
 * what logs, engines and hooks see: clients reuse ids, while engines (vLLM refuses a request id
 * that is already running) and metering (leases and reservations are keyed by it) need unique ones.
 */
function requestIdFor(given: string | string[] | undefined): { id: string; echo: string } {
  if (typeof given === "string" && SANE_REQUEST_ID.test(given)) {
    return { id: `${given}-${randomBytes(4).toString("hex")}`, echo: given };
  }
  const id = randomUUID();
  return { id, echo: id };
}

function readyz(res: ServerResponse, r: Readiness): void {
  sendJson(
    res,
    r.ready ? 200 : 503,
    r.ready ? { status: "ready" } : { status: "not ready", reasons: r.reasons },
  );
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
