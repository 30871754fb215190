// What the router knows about one request as it moves along the path
// auth → policy → resolve → admit → pick replica → load adapter → forward → settle.
import type { Tenant } from "./tenant.ts";

export type Endpoint = "chat.completions" | "completions" | "embeddings";

export type ResolvedAdapter = {
  name: string;
  version: number;
  source: string;
  sha256?: string;
  /** The engine-side name, from core/storage-layout loraName(); never from client input. */
  loraName: string;
};

export type ResolvedModel = {
  /** What the client asked for, echoed back in responses. */
  requested: string;
  baseModel: string;
  adapter?: ResolvedAdapter;
};

export type RequestContext = {
  requestId: string;
  receivedAt: number; // performance.now() at arrival
  endpoint: Endpoint;
  tenant: Tenant;
  keyId: string;
  model: ResolvedModel;
  stream: boolean;
  /** Client's `user` field, for per-user metering. */
  endUser?: string;
  /** `x-loraplex-feature` header, for per-feature metering. */
  feature?: string;
  /** Prompt size estimate and the output cap actually sent upstream, for reservations. */
  promptTokensEstimate: number;
  maxOutputTokens: number;
};

export type Outcome = {
  status: "ok" | "upstream_error" | "timeout" | "client_disconnect" | "rejected";
  httpStatus: number;
  replica?: string;
  promptTokens: number;
  completionTokens: number;
  ttftMs?: number;
  durationMs: number;
  /** Time the request waited in the router's fair queue (only when the pool was saturated). */
  queueMs?: number;
  reason?: string;
};

/**
 * The metering issue fills these in (limits, budget reservation, usage events). `admit` runs
 * before forwarding and may throw an ApiError (e.g. 429); `settle` runs exactly once for every
 * admitted request, on every path, and must not throw.
 */
export type Hooks = {
  admit(ctx: RequestContext): Promise<void>;
  settle(ctx: RequestContext, outcome: Outcome): void;
};
