// Talks to the inference engine's runtime LoRA API (vLLM with
// VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, or the project's engine simulator) over a keep-alive pool.
import { Pool } from "undici";
import { AgentFailure } from "./errors.ts";

export type EngineModel = { id: string; parent?: string | null; root?: string | null };
export type EngineLoadOutcome = "loaded" | "already_loaded";

export type EngineClient = {
  load(loraName: string, loraPath: string): Promise<EngineLoadOutcome>;
  /** Returns false when the engine did not have the adapter (nothing to unload). */
  unload(loraName: string): Promise<boolean>;
  models(): Promise<EngineModel[]>;
  /** The served base model: the card without a parent. */
  baseModel(): Promise<string>;
  health(): Promise<{ ok: true } | { ok: false; reason: string }>;
  close(): Promise<void>;
};

type Reply = { status: number; text: string };

export function createEngineClient(engineUrl: string, opts: { timeoutMs?: number } = {}): EngineClient {
  const timeout = opts.timeoutMs ?? 60_000;
  const pool = new Pool(engineUrl, { connections: 8, headersTimeout: timeout, bodyTimeout: timeout });

  async function once(method: "GET" | "POST", path: string, body?: unknown): Promise<Reply> {
    const res = await pool.request({
      method,
      path,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, text: await res.body.text() };
  }

  async function call(method: "GET" | "POST", path: string, body?: unknown): Promise<Reply> {
    try {
      return await once(method, path, body);
    } catch (err) {
      // A restarted engine leaves dead keep-alive sockets behind; one retry on a fresh socket
      // tells "that socket was stale" apart from "the engine is down". Every call here is
      // idempotent from the agent's point of view (load answers "already loaded").
      if (!isStaleSocket(err)) throw unavailable(err);
      try {
        return await once(method, path, body);
      } catch (again) {
        throw unavailable(again);
      }
    }
  }

  function unavailable(err: unknown): AgentFailure {
    const e = err as { code?: string; message?: string };
    return new AgentFailure(
      503,
      "engine_unavailable",
      `engine at ${engineUrl} is unreachable: ${e.code ?? e.message ?? String(err)}`,
    );
  }

  async function models(): Promise<EngineModel[]> {
    const r = await call("GET", "/v1/models");
    if (r.status !== 200) throw engineError("GET /v1/models", r);
    const parsed = safeJson(r.text) as { data?: EngineModel[] } | undefined;
    if (!parsed || !Array.isArray(parsed.data)) {
      throw new AgentFailure(502, "engine_error", "engine's /v1/models answer has no 'data' list");
    }
    return parsed.data;
  }

  return {
    async load(loraName, loraPath) {
      const r = await call("POST", "/v1/load_lora_adapter", { lora_name: loraName, lora_path: loraPath });
      if (r.status === 200) return "loaded";
      const message = errorMessage(r);
      if (r.status === 400 && /already/i.test(message)) return "already_loaded";
      if (r.status === 400 || r.status === 404 || r.status === 422) {
        throw new AgentFailure(422, "invalid_adapter", `engine refused adapter '${loraName}': ${message}`);
      }
      throw engineError("load_lora_adapter", r);
    },
    async unload(loraName) {
      const r = await call("POST", "/v1/unload_lora_adapter", { lora_name: loraName });
      if (r.status === 200) return true;
      // vLLM answers 404 (older releases 400) for a name it does not know.
      if (
        r.status === 404 ||
        (r.status === 400 && /not (be )?found|cannot be found/i.test(errorMessage(r)))
      ) {
        return false;
      }
      throw engineError("unload_lora_adapter", r);
    },
    models,
    async baseModel() {
      const base = (await models()).find((m) => !m.parent);
      if (!base) throw new AgentFailure(502, "engine_error", "engine's /v1/models lists no base model");
      return base.id;
    },
    async health() {
      try {
        const r = await call("GET", "/health");
        return r.status === 200 ? { ok: true } : { ok: false, reason: `engine /health answered ${r.status}` };
      } catch (err) {
        return { ok: false, reason: (err as Error).message };
      }
    },
    async close() {
      await pool.close();
    },
  };
}

function isStaleSocket(err: unknown): boolean {
  const e = err as { code?: string; name?: string };
  return (
    e.name === "SocketError" || e.code === "ECONNRESET" || e.code === "UND_ERR_SOCKET" || e.code === "EPIPE"
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** vLLM's error bodies: {"error": {"message"}} (current) or {"message"} (older releases). */
function errorMessage(r: Reply): string {
  const body = safeJson(r.text) as { error?: { message?: string }; message?: string } | undefined;
  return body?.error?.message ?? body?.message ?? (r.text.slice(0, 300) || `HTTP ${r.status}`);
}

function engineError(what: string, r: Reply): AgentFailure {
  const message = `engine ${what} failed with ${r.status}: ${errorMessage(r)}`;
  if (r.status === 503) return new AgentFailure(503, "engine_unavailable", message);
  return new AgentFailure(502, "engine_error", message);
}
