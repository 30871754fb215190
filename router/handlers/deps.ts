// Everything the request handlers need, assembled once by createRouter. Handlers see narrow
// functions instead of concrete modules so each step (auth, policy, scheduling, hooks) stays
// replaceable and the hot path reads as a straight line.
import type { Logger } from "../../core/log.ts";
import type { Endpoint, Hooks, RequestContext, ResolvedModel } from "../../core/request-context.ts";
import type { Tenant } from "../../core/tenant.ts";
import type { FlowControl } from "../fairness/flow-control.ts";
import type { Upstreams } from "../forward/upstreams.ts";
import type { RouterMetrics } from "../metrics.ts";
import type { Pools } from "../scheduling/pools.ts";

export type Authenticated = { tenant: Tenant; keyId: string };

/** A request refused before admission once its tenant was known (bad body, unknown model, policy). */
export type EarlyRejection = {
  requestId: string;
  receivedAt: number;
  endpoint: Endpoint;
  tenant: Tenant;
  keyId: string;
  model?: string;
  httpStatus: number;
  reason: string;
};

/**
 * What a Hooks implementation may offer beyond admit/settle; the router uses each one it finds
 * (router/metering implements them all).
 */
export type HookExtras = {
  /** Told about requests refused before admission; never throws. */
  rejected?(r: EarlyRejection): void;
  /** Headers for an admitted request's response (e.g. x-ratelimit-*). */
  responseHeaders?(ctx: RequestContext): Record<string, string>;
  /** Whether payload() wants this request's conversation text (e.g. for its audit record). */
  wantsPayload?(ctx: RequestContext): boolean;
  /** The prompt as sent upstream (after policy) and the completion text; called before settle. */
  payload?(ctx: RequestContext, p: { prompt?: unknown; response?: string }): void;
};

export type RouterHooks = Hooks & HookExtras;

export type RouterDeps = {
  /** Resolves `Authorization` to a tenant or throws ApiError 401. */
  authenticate(authorization: string | undefined): Promise<Authenticated> | Authenticated;
  /** Resolves a client model name inside the tenant or throws ApiError 403/404. */
  resolveModel(tenant: Tenant, model: string): ResolvedModel;
  /** The OpenAI model list the tenant may see. */
  listModels(tenant: Tenant): { object: "list"; data: { id: string }[] };
  /** Validates an endpoint's body (ApiError 400 naming the field) and applies tenant policy. */
  prepareBody(
    endpoint: "chat.completions" | "completions" | "embeddings",
    tenant: Tenant,
    body: Record<string, unknown>,
  ): Record<string, unknown>;
  /** The tenant's prefix-cache salt (stable HMAC of the tenant name). */
  cacheSalt(tenant: Tenant): string;
  poolRefFor(tenant: Tenant): string;
  pools: Pools;
  /** Fair queuing in front of saturated pools; undefined = first come, first served. */
  flow?: FlowControl;
  upstreams: Upstreams;
  hooks: RouterHooks;
  metrics: RouterMetrics;
  logger: Logger;
  maxBodyBytes: number;
};
