// The operator's cost report, under /admin/v1 with the admin token: per tenant, for a period,
// tokens, list-price revenue, estimated engine seconds and cost to serve, and the margin against
// the tenant's plan price when one is set; top tenants; rejections by tenant and reason.
// These read across tenants, as the table owner (no row-level security), from the rollups.

import express, { type Request, type Response, type Router } from "express";
import type pg from "pg";
import { adminTokenMatcher } from "../../api-keys/secrets.ts";
import { invalidAdminToken, invalidRequest, sendError } from "../../core/errors.ts";
import type { MeteringConfig } from "../../metering/config.ts";
import { bearerToken } from "../auth/authenticate.ts";
import { integer, oneOf, type Query, unixTime } from "./api-params.ts";

export type AdminCostsDeps = {
  pool: pg.Pool;
  adminToken: string;
  config: Pick<MeteringConfig, "engineCost" | "plans">;
};

const MAX_DAYS = 366;

function period(q: Query): { from: number; to: number; days: number } {
  const from = Math.floor(unixTime(q, "start_time", true)! / 86_400) * 86_400;
  const rawEnd = unixTime(q, "end_time", false);
  const to =
    rawEnd === undefined
      ? Math.ceil(Date.now() / 1000 / 86_400) * 86_400
      : Math.ceil(rawEnd / 86_400) * 86_400;
  if (to <= from) throw invalidRequest("'end_time' must be after 'start_time'.", "end_time");
  const days = (to - from) / 86_400;
  if (days > MAX_DAYS) {
    throw invalidRequest(`The period may span at most ${MAX_DAYS} days.`, "end_time");
  }
  return { from, to, days };
}

type TenantCost = {
  tenant: string;
  requests: number;
  rejected: number;
  failed: number;
  input_tokens: number;
  output_tokens: number;
  revenue_usd: number;
  engine_seconds: number;
  cost_to_serve_usd: number | null;
  plan_price_usd: number | null;
  margin_usd: number | null;
};

async function costs(deps: AdminCostsDeps, from: number, to: number, days: number): Promise<TenantCost[]> {
  const { rows } = await deps.pool.query(
    `SELECT tenant, sum(requests)::bigint AS requests, sum(rejected)::bigint AS rejected, sum(failed)::bigint AS failed,
            sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
            sum(input_cost_micro + output_cost_micro)::bigint AS revenue_micro, sum(duration_ms) AS duration_ms
     FROM usage_daily
     WHERE day >= (to_timestamp($1) AT TIME ZONE 'UTC')::date AND day < (to_timestamp($2) AT TIME ZONE 'UTC')::date
     GROUP BY tenant ORDER BY tenant`,
    [from, to],
  );
  const engine = deps.config.engineCost;
  return rows.map((r) => {
    // Engine time a request held a sequence slot; slots are shared avgConcurrency ways per GPU.
    const engineSeconds = Number(r.duration_ms ?? 0) / 1000;
    const cost = engine ? (engineSeconds / engine.avgConcurrency / 3600) * engine.perGpuHourUSD : null;
    const plan = deps.config.plans[r.tenant];
    const planPrice = plan ? (plan.monthlyUSD * days) / 30 : null;
    const round = (v: number) => Math.round(v * 1e6) / 1e6;
    return {
      tenant: r.tenant,
      requests: Number(r.requests),
      rejected: Number(r.rejected),
      failed: Number(r.failed),
      input_tokens: Number(r.input_tokens),
      output_tokens: Number(r.output_tokens),
      revenue_usd: Number(r.revenue_micro) / 1e6,
      engine_seconds: round(engineSeconds),
      cost_to_serve_usd: cost === null ? null : round(cost),
      plan_price_usd: planPrice === null ? null : round(planPrice),
      margin_usd: planPrice !== null && cost !== null ? round(planPrice - cost) : null,
    };
  });
}

export function createAdminCostsRouter(deps: AdminCostsDeps): Router {
  const router = express.Router();
  const isAdmin = adminTokenMatcher(deps.adminToken);
  const guarded =
    (handler: (q: Query, res: Response) => Promise<void>) => async (req: Request, res: Response) => {
      try {
        if (!isAdmin(bearerToken(req.headers.authorization))) throw invalidAdminToken();
        await handler(req.query as Query, res);
      } catch (err) {
        sendError(res, err);
      }
    };

  router.get(
    "/admin/v1/costs",
    guarded(async (q, res) => {
      const p = period(q);
      const data = await costs(deps, p.from, p.to, p.days);
      res.json({ object: "list", start_time: p.from, end_time: p.to, data });
    }),
  );

  router.get(
    "/admin/v1/costs/top-tenants",
    guarded(async (q, res) => {
      const p = period(q);
      const by = oneOf(
        q,
        "by",
        ["revenue_usd", "output_tokens", "input_tokens", "requests"] as const,
        "revenue_usd",
      );
      const limit = integer(q, "limit", 10, 1_000);
      const data = (await costs(deps, p.from, p.to, p.days)).sort((a, b) => b[by] - a[by]).slice(0, limit);
      res.json({ object: "list", start_time: p.from, end_time: p.to, by, data });
    }),
  );

  router.get(
    "/admin/v1/rejections",
    guarded(async (q, res) => {
      const p = period(q);
      const { rows } = await deps.pool.query(
        `SELECT tenant, reason, count(*)::bigint AS n FROM usage_events
         WHERE status = 'rejected' AND ts >= to_timestamp($1) AND ts < to_timestamp($2)
         GROUP BY tenant, reason ORDER BY n DESC, tenant, reason LIMIT 10000`,
        [p.from, p.to],
      );
      res.json({
        object: "list",
        start_time: p.from,
        end_time: p.to,
        data: rows.map((r) => ({ tenant: r.tenant, reason: r.reason, count: Number(r.n) })),
      });
    }),
  );
  return router;
}
