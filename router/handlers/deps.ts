// Everything the request handlers need, assembled once by createRouter. Handlers see narrow
// functions instead of concrete modules so each step (auth, policy, scheduling, hooks) stays
// replaceable and the hot path reads as a straight line.
import type { Logger } from "../../core/log.ts";
import type { Authenticated, EngineEndpoint, Hooks, ResolvedModel } from "../../core/request-context.ts";
import type { Tenant } from "../../core/tenant.ts";
import type { FlowControl } from "../fairness/flow-control.ts";
import type { Upstreams } from "../forward/upstreams.ts";
import type { RouterMetrics } from "../metrics.ts";
import type { ResponsesServices } from "../responses/services.ts";
import type { Pools } from "../scheduling/pools.ts";
import type { PreparedBody } from "./prepare-body.ts";

export type RouterDeps = {
  /** Resolves `Authorization` to a tenant or throws ApiError 401. */
  /** `source`: the client's address, for the failed-authentication limit. */
  authenticate(authorization: string | undefined, source?: string): Promise<Authenticated> | Authenticated;
  /** Resolves a client model name inside the tenant or throws ApiError 403/404. */
  resolveModel(tenant: Tenant, model: string): ResolvedModel;
  /** The OpenAI model list the tenant may see. */
  listModels(tenant: Tenant): { object: "list"; data: { id: string }[] };
  /** Validates an endpoint's body (ApiError 400 naming the field) and applies tenant policy. */
  prepareBody(endpoint: EngineEndpoint, tenant: Tenant, body: Record<string, unknown>): PreparedBody;
  /** The tenant's prefix-cache salt (stable HMAC of the tenant name). */
  cacheSalt(tenant: Tenant): string;
  poolRefFor(tenant: Tenant): string;
  pools: Pools;
  /** Fair queuing in front of saturated pools; undefined = first come, first served. */
  flow?: FlowControl;
  upstreams: Upstreams;
  hooks: Hooks;
  metrics: RouterMetrics;
  logger: Logger;
  maxBodyBytes: number;
  /** The Responses API's stored responses and file search (router/responses/). */
  responses?: ResponsesServices;
  /** How long a request is held while its pool has no healthy replica (forward/proxy.ts). */
  replicaWaitMs?: number;
};
