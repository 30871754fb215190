// The simulator's HTTP server on node:http (no framework on the hot path). Routes:
//   POST /v1/chat/completions, /v1/completions, /v1/embeddings
//   GET  /v1/models, /health, /metrics
//   POST /v1/load_lora_adapter, /v1/unload_lora_adapter
//   GET|POST /sim/faults, POST /sim/crash (fault injection; not part of vLLM)
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger, type Logger } from "../core/log.ts";
import { handleCompletion } from "./completions.ts";
import { handleEmbeddings } from "./embeddings.ts";
import { Engine } from "./engine.ts";
import { EngineError, sendError } from "./errors.ts";
import { listModels, loadAdapter, unloadAdapter } from "./lora-api.ts";
import { type EngineSimOptions, resolveOptions } from "./options.ts";

export type EngineSim = { url: string; engine: Engine; close(): Promise<void> };

/** Starts a simulator in this process. `options.port` 0 (the default here) picks a free port. */
export async function startEngineSim(
  options: Partial<EngineSimOptions> & { model: string },
  log: Logger = createLogger("engine-sim"),
): Promise<EngineSim> {
  const opts = resolveOptions({ port: 0, ...options });
  const engine = new Engine(opts, log);
  const startedAt = Math.floor(Date.now() / 1000);
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    route(engine, startedAt, req, res).catch((e: unknown) => {
      if (!(e instanceof EngineError)) log.error({ err: e, url: req.url }, "request failed");
      sendError(res, e);
    });
  });
  // Keep-alive connections from load generators and routers must not be cut by the default
  // 5-minute request timeout while a long stream is paced out.
  server.requestTimeout = 0;
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(opts.port, opts.host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    engine,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeIdleConnections();
        // In-flight streams get a moment to finish, then are cut.
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      }),
  };
}

async function route(
  engine: Engine,
  startedAt: number,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
  const method = req.method ?? "GET";
  const post = async (handle: (body: unknown) => Promise<void>) => {
    if (method !== "POST") return methodNotAllowed(res);
    await handle(await readJson(req, engine.opts.maxBodyBytes));
  };
  // vLLM's --api-key guards the /v1 routes only; /health and /metrics stay open.
  const key = engine.opts.apiKey;
  if (key && path.startsWith("/v1/") && req.headers.authorization !== `Bearer ${key}`) {
    return json(res, 401, { error: "Unauthorized" });
  }
  switch (path) {
    case "/v1/chat/completions":
      return post((b) => handleCompletion(engine, "chat", b, req, res));
    case "/v1/completions":
      return post((b) => handleCompletion(engine, "completion", b, req, res));
    case "/v1/embeddings":
      return post((b) => handleEmbeddings(engine, b, res));
    case "/v1/load_lora_adapter":
      return post(async (b) => {
        const status = await text(res, () => loadAdapter(engine, b));
        engine.metrics.loraApiCall("load", status);
      });
    case "/v1/unload_lora_adapter":
      return post(async (b) => {
        const status = await text(res, () => unloadAdapter(engine, b));
        engine.metrics.loraApiCall("unload", status);
      });
    case "/v1/models":
      return get(method, res, () => json(res, 200, listModels(engine, startedAt)));
    case "/health":
      return get(method, res, () => {
        res.writeHead(engine.faults.healthy ? 200 : 503, { "content-length": 0 });
        res.end();
      });
    case "/metrics":
      return get(method, res, async () => {
        const body = await engine.metrics.registry.metrics();
        res.writeHead(200, { "content-type": engine.metrics.registry.contentType });
        res.end(body);
      });
    case "/sim/faults":
      if (method === "GET") return json(res, 200, engine.faults.toJSON());
      return post(async (b) => {
        json(res, 200, engine.faults.replace(b));
        engine.log.warn({ faults: engine.faults.toJSON() }, "fault settings replaced");
      });
    case "/sim/crash":
      if (method !== "POST") return methodNotAllowed(res);
      engine.log.warn("crash requested through /sim/crash");
      res.writeHead(202, { "content-type": "text/plain", connection: "close" });
      res.end("crashing\n", () => engine.opts.onCrash());
      return;
    default:
      // FastAPI's answer for an unknown route, which is what vLLM returns.
      return json(res, 404, { detail: "Not Found" });
  }
}

async function get(method: string, res: ServerResponse, handle: () => void | Promise<void>): Promise<void> {
  if (method !== "GET" && method !== "HEAD") return methodNotAllowed(res);
  await handle();
}

function methodNotAllowed(res: ServerResponse): void {
  json(res, 405, { detail: "Method Not Allowed" });
}

/** Runs a LoRA API call: its success text as text/plain, its failure as a vLLM error. */
async function text(res: ServerResponse, fn: () => Promise<string>): Promise<number> {
  try {
    const body = await fn();
    res.writeHead(200, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
    return 200;
  } catch (e) {
    sendError(res, e);
    return e instanceof EngineError ? e.status : 500;
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Reads and parses a JSON body of at most `limit` bytes. */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((ok, fail) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > limit) {
      req.resume();
      fail(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume(); // drain the rest so the error response can be sent
        fail(tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on("error", fail);
    // A client that disconnects mid-body: no 'end' will come.
    req.on("close", () => {
      if (!req.complete) fail(new EngineError(400, "The request body was cut off."));
    });
    req.on("end", () => {
      if (size > limit) return;
      const raw = Buffer.concat(chunks).toString("utf8");
      try {
        ok(JSON.parse(raw));
      } catch (e) {
        fail(new EngineError(400, `JSON decode error: ${(e as Error).message}`, "BadRequestError"));
      }
    });
  });
}

function tooLarge(limit: number): EngineError {
  return new EngineError(413, `Request body is larger than the engine simulator's limit of ${limit} bytes.`);
}
