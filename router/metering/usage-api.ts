// The tenant-facing usage API, shaped like OpenAI's organization Usage and Costs APIs so existing
// tooling reads it: pages of time buckets, each with results per group. Every route
// authenticates the caller's key, and every query is scoped to the caller's tenant twice: an
// explicit WHERE and row-level security (tenant-db.ts). Also the dashboard's own reads.
import express, { type Router } from "express";
import { withTenant } from "../../metering/tenant-db.ts";
import { bucketWindow, groupBy, integer, list, type Query } from "./api-params.ts";
import { type Handler, route, type UsageApiDeps } from "./api-route.ts";
import { mountAuditRoutes } from "./audit-api.ts";
import { buckets, page } from "./buckets.ts";
import {
  queryUsage,
  USAGE_GROUPS,
  type UsageFilters,
  type UsageGroup,
  type UsageRow,
} from "./usage-queries.ts";
import { RETRIEVAL_ENDPOINTS, storageCostResults, vectorStoreUsageRoute } from "./vector-store-usage.ts";

const NULL_GROUPS = {
  project_id: null,
  user_id: null,
  api_key_id: null,
  model: null,
  adapter: null,
  feature: null,
};
const orNull = (v: string | undefined) => (v === undefined || v === "" ? null : v);
const groupFields = (row: UsageRow, groups: UsageGroup[]) => {
  const out: Record<string, string | null> = { ...NULL_GROUPS };
  for (const g of groups) out[g] = orNull(row[g]);
  return out;
};

function filters(q: Query): UsageFilters {
  return {
    models: list(q, "models"),
    userIds: list(q, "user_ids"),
    apiKeyIds: list(q, "api_key_ids"),
    adapters: list(q, "adapters"),
    features: list(q, "features"),
  };
}

function usageRoute(deps: UsageApiDeps, kind: "completions" | "embeddings"): Handler {
  const endpoints = kind === "completions" ? ["chat.completions", "completions"] : ["embeddings"];
  return async (caller, q, res) => {
    const w = bucketWindow(q, ["1m", "1h", "1d"]);
    const groups = groupBy(q, USAGE_GROUPS);
    const f = filters(q);
    const p = page(q, `usage.${kind}`, w);
    const tenant = caller.tenant.metadata.name;
    const rows = await withTenant(deps.pool, tenant, (c) =>
      queryUsage(c, { tenant, endpoints, window: w, from: p.from, to: p.to, groups, filters: f }),
    );
    res.json(
      buckets(p, w.seconds, rows, (r) => [
        kind === "completions"
          ? {
              object: "organization.usage.completions.result",
              input_tokens: r.input_tokens,
              output_tokens: r.output_tokens,
              input_cached_tokens: 0,
              input_audio_tokens: 0,
              output_audio_tokens: 0,
              num_model_requests: r.num_model_requests,
              ...groupFields(r, groups),
              batch: null,
            }
          : {
              object: "organization.usage.embeddings.result",
              input_tokens: r.input_tokens,
              num_model_requests: r.num_model_requests,
              ...groupFields(r, groups),
            },
      ]),
    );
  };
}

const COST_GROUPS = ["line_item", "project_id", ...USAGE_GROUPS] as const;

function costsRoute(deps: UsageApiDeps): Handler {
  return async (caller, q, res) => {
    const w = bucketWindow(q, ["1d"], { "1d": { def: 7, max: 180 } });
    const asked = groupBy(q, COST_GROUPS).filter((g) => g !== "project_id");
    const lineItems = asked.includes("line_item");
    const groups = asked.filter((g): g is UsageGroup => g !== "line_item");
    if (lineItems && !groups.includes("model")) groups.push("model");
    const p = page(q, "costs", w);
    const tenant = caller.tenant.metadata.name;
    const f = filters(q);
    const rows = await withTenant(deps.pool, tenant, (c) =>
      queryUsage(c, {
        tenant,
        endpoints: ["chat.completions", "completions", "embeddings", ...RETRIEVAL_ENDPOINTS],
        window: w,
        from: p.from,
        to: p.to,
        groups,
        filters: f,
      }),
    );
    const result = (value: number, r: UsageRow, line: string | null) => ({
      object: "organization.costs.result",
      amount: { value, currency: "usd" },
      line_item: line,
      ...groupFields(r, groups),
    });
    const out = buckets(p, w.seconds, rows, (r) =>
      lineItems
        ? [
            result(r.input_cost_micro / 1e6, r, `${r.model}, input`),
            result(r.output_cost_micro / 1e6, r, `${r.model}, output`),
          ]
        : [result((r.input_cost_micro + r.output_cost_micro) / 1e6, r, null)],
    );
    // Vector store storage is billed per GB-day, not per request: one more result per day.
    await storageCostResults(deps, tenant, out.data, { lineItems, groups });
    res.json(out);
  };
}

export function createUsageRouter(deps: UsageApiDeps): Router {
  const router = express.Router();
  router.get("/v1/organization/usage/completions", route(deps, usageRoute(deps, "completions")));
  router.get("/v1/organization/usage/embeddings", route(deps, usageRoute(deps, "embeddings")));
  router.get("/v1/organization/costs", route(deps, costsRoute(deps)));
  router.get("/v1/organization/usage/vector_stores", route(deps, vectorStoreUsageRoute(deps)));
  router.get("/v1/organization/usage/requests", route(deps, recentRoute(deps)));
  mountAuditRoutes(router, deps);
  return router;
}

/** The caller's most recent requests (the dashboard's table). */
function recentRoute(deps: UsageApiDeps): Handler {
  return async (caller, q, res) => {
    const limit = integer(q, "limit", 50, 500);
    const tenant = caller.tenant.metadata.name;
    const { rows } = await withTenant(deps.pool, tenant, (c) =>
      c.query(
        `SELECT id, extract(epoch FROM ts)::bigint AS created_at, model, adapter, adapter_version, key_id, end_user,
                feature, status, http_status, reason, prompt_tokens, completion_tokens,
                input_cost_micro + output_cost_micro AS cost_micro, duration_ms, queue_ms
         FROM usage_events WHERE tenant = $1 AND ts > now() - interval '31 days'
         ORDER BY ts DESC LIMIT $2`,
        [tenant, limit],
      ),
    );
    res.json({
      object: "list",
      data: rows.map((r) => ({
        id: r.id,
        created_at: Number(r.created_at),
        model: r.model,
        adapter: r.adapter ? `${r.adapter}@${r.adapter_version}` : null,
        api_key_id: orNull(r.key_id),
        user_id: orNull(r.end_user),
        feature: orNull(r.feature),
        status: r.status,
        http_status: r.http_status,
        reason: orNull(r.reason),
        input_tokens: r.prompt_tokens,
        output_tokens: r.completion_tokens,
        cost_usd: Number(r.cost_micro) / 1e6,
        duration_ms: Math.round(r.duration_ms),
        queue_ms: r.queue_ms === null ? null : Math.round(r.queue_ms),
      })),
    });
  };
}
