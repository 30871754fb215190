// The lifecycle of one inference request, declared once for the router and its hooks:
//
//   authenticated ─→ admitted ─→ forwarded ─→ settled
//         └──────────────┴─→ rejected
//
// authenticated: the API key resolved to a tenant (Authenticated). The body is then read,
//   validated against the tenant's policy and its model resolved; the RequestContext is built.
// admitted: hooks.admit() accepted the request (limits, spend caps, price known).
// forwarded: the request went to an engine replica and its answer is being relayed.
// settled: hooks.settle() ran with the Outcome, exactly once for every admitted request, on
//   every path (success, upstream error, timeout, client disconnect).
// rejected: refused before admission once the tenant was known (hooks.rejected() gets an
//   EarlyRejection), or refused by admit() itself (its own decision, never settled).
//
// Everything the lifecycle knows about one request travels on its RequestContext; hooks keep
// their own per-request state there too (see RequestContext below), never in side tables.
import type { Tenant } from "./tenant.ts";

/** "responses": the Responses API, translated to the engine's chat completions (router/responses/). */
export type Endpoint = "chat.completions" | "completions" | "embeddings" | "responses";
/** The endpoints the engine itself serves (the router forwards their bodies after policy). */
export type EngineEndpoint = Exclude<Endpoint, "responses">;

type Stage = "authenticated" | "admitted" | "forwarded" | "settled" | "rejected";

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

/** An API key resolved to its tenant: the first stage. */
export type Authenticated = { tenant: Tenant; keyId: string };

/** The conversation as sent upstream (after the tenant's policy) and the completion text. */
export type AuditPayload = { prompt?: unknown; response?: string };

/**
 * One request from the moment it is ready for admission until it is settled. An interface so
 * that hooks may declare their own per-request fields on it by declaration merging (metering
 * keeps its reservation here: router/metering/hooks.ts).
 */
export interface RequestContext {
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
  /** Where the request is; the router advances it, settle() and admit()'s refusals end it. */
  stage: Stage;
  /** Set by the router before settle when hooks.wantsPayload() asked for it. */
  audit?: AuditPayload;
}

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

/** A request refused before admission (bad body, unknown model, policy) once its tenant was known. */
export type EarlyRejection = {
  requestId: string;
  receivedAt: number;
  endpoint: Endpoint;
  tenant: Tenant;
  keyId: string;
  /** The model the client asked for, if it said. */
  model?: string;
  httpStatus: number;
  reason: string;
};

/**
 * What the router calls along the lifecycle. `admit` runs before forwarding and may throw an
 * ApiError (e.g. 429); `settle` runs exactly once for every admitted request, on every path, and
 * must not throw. The optional ones are used when present (router/metering implements them all).
 */
export type Hooks = {
  admit(ctx: RequestContext): Promise<void>;
  settle(ctx: RequestContext, outcome: Outcome): void;
  /** Told about requests refused before admission; never throws. */
  rejected?(r: EarlyRejection): void;
  /** Headers for an admitted request's response (e.g. x-ratelimit-*). */
  responseHeaders?(ctx: RequestContext): Record<string, string>;
  /** Whether the router should put the conversation text on ctx.audit before settle. */
  wantsPayload?(ctx: RequestContext): boolean;
};
