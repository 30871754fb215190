// Typed client for the adapter agent's API, used by the router. One keep-alive pool per agent.
import { Pool } from "undici";
import type {
  AgentErrorBody,
  AgentHealth,
  AgentInventory,
  EraseResult,
  LoadRequest,
  LoadResult,
  RemoveResult,
} from "./types.ts";

export type {
  AgentHealth,
  AgentInventory,
  EraseResult,
  LoadRequest,
  LoadResult,
  RemoveResult,
} from "./types.ts";

/** A failed agent call: `status` 0 and code "agent_unreachable" when no HTTP answer came back. */
export class AgentError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "AgentError";
    this.status = status;
    this.code = code;
  }
}

export type AgentClient = {
  load(req: LoadRequest): Promise<LoadResult>;
  list(): Promise<AgentInventory>;
  unload(loraName: string): Promise<RemoveResult>;
  eraseTenant(tenant: string): Promise<EraseResult>;
  /** Never throws for an unhealthy engine: the agent's 503 body comes back as {status: "unavailable"}. */
  health(): Promise<AgentHealth>;
  close(): Promise<void>;
};

export function createAgentClient(
  baseUrl: string,
  opts: { connections?: number; timeoutMs?: number } = {},
): AgentClient {
  const origin = new URL(baseUrl).origin;
  // Loads of large adapters take a while; the agent itself bounds downloads and engine calls.
  const timeout = opts.timeoutMs ?? 10 * 60_000;
  const pool = new Pool(origin, {
    connections: opts.connections ?? 16,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });

  async function call<T>(
    method: "GET" | "POST" | "DELETE",
    path: string,
    body?: unknown,
    okStatuses = [200],
  ): Promise<T> {
    let status: number;
    let text: string;
    try {
      const res = await pool.request({
        method,
        path,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      throw new AgentError(
        0,
        "agent_unreachable",
        `adapter agent at ${origin} is unreachable: ${e.code ?? e.message}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new AgentError(status, "bad_response", `adapter agent answered ${status} with a non-JSON body`);
    }
    if (okStatuses.includes(status)) return parsed as T;
    const error = (parsed as Partial<AgentErrorBody>).error;
    throw new AgentError(
      status,
      error?.code ?? "unknown",
      error?.message ?? `adapter agent answered ${status}`,
    );
  }

  return {
    load: (req) => call<LoadResult>("POST", "/adapters/load", req),
    list: () => call<AgentInventory>("GET", "/adapters"),
    unload: (loraName) => call<RemoveResult>("DELETE", `/adapters/${encodeURIComponent(loraName)}`),
    eraseTenant: (tenant) => call<EraseResult>("DELETE", `/tenants/${encodeURIComponent(tenant)}/adapters`),
    health: () => call<AgentHealth>("GET", "/health", undefined, [200, 503]),
    close: () => pool.close(),
  };
}
