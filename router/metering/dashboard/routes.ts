// The tenant dashboard: one self-contained HTML page (no build step, no third-party code) at
// /dashboard, plus the two reads only it needs: a spend-vs-caps summary and a CSV export. The
// page signs in with the tenant's key and calls the same tenant-scoped APIs as any client.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import express, { type Router } from "express";
import type { Redis } from "ioredis";
import { invalidRequest } from "../../../core/errors.ts";
import type { KeySpace } from "../../../core/redis-keys.ts";
import { periodsAt } from "../../../metering/budget.ts";
import { withTenant } from "../../../metering/tenant-db.ts";
import { SEARCH_ENDPOINT } from "../../../retrieval/usage.ts";
import { unixTime } from "../api-params.ts";
import { type Caller, route, type UsageApiDeps } from "../api-route.ts";

export type DashboardDeps = UsageApiDeps & { redis?: Redis; keys?: KeySpace };

const PAGE = readFileSync(join(import.meta.dirname, "index.html"), "utf8");
// Only the page's own inline script may run: its hash is the whole script-src allowlist.
const SCRIPT = PAGE.slice(PAGE.indexOf("<script>") + 8, PAGE.indexOf("</script>"));
const CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash("sha256").update(SCRIPT).digest("base64")}'`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

async function liveSpend(
  deps: DashboardDeps,
  tenant: string,
): Promise<{ daily: number; monthly: number } | undefined> {
  if (!deps.redis || !deps.keys || deps.redis.status !== "ready") return undefined;
  const p = periodsAt(Date.now());
  try {
    const [d, m] = await Promise.all([
      deps.redis.hget(deps.keys.dayBudget(tenant, p.day), "spent"),
      deps.redis.hget(deps.keys.monthBudget(tenant, p.month), "spent"),
    ]);
    return { daily: Number(d ?? 0) / 1e6, monthly: Number(m ?? 0) / 1e6 };
  } catch {
    return undefined;
  }
}

async function summary(deps: DashboardDeps, caller: Caller) {
  const tenant = caller.tenant.metadata.name;
  const p = periodsAt(Date.now());
  const { rows } = await withTenant(deps.pool, tenant, (c) =>
    c.query(
      `SELECT coalesce(sum(input_cost_micro + output_cost_micro) FILTER (WHERE day = $2::date), 0)::bigint AS d,
              coalesce(sum(input_cost_micro + output_cost_micro), 0)::bigint AS m
       FROM usage_daily WHERE tenant = $1 AND day >= $3::date AND day <= $2::date`,
      [tenant, p.day, `${p.month}-01`],
    ),
  );
  const retrieval = await withTenant(deps.pool, tenant, (c) =>
    c.query(
      `SELECT coalesce((SELECT sum(requests - rejected) FROM usage_daily
                         WHERE tenant = $1 AND endpoint = $4 AND day = $2::date), 0)::bigint AS d,
              coalesce((SELECT sum(requests - rejected) FROM usage_daily
                         WHERE tenant = $1 AND endpoint = $4 AND day >= $3::date AND day <= $2::date), 0)::bigint AS m,
              coalesce((SELECT sum(usage_bytes) FROM vector_store_files WHERE tenant = $1), 0)::bigint AS bytes`,
      [tenant, p.day, `${p.month}-01`, SEARCH_ENDPOINT],
    ),
  );
  // The tenant's own waits in the fair queue over the last day (requests that never queued count
  // as no wait in the percentiles).
  const { rows: waits } = await withTenant(deps.pool, tenant, (c) =>
    c.query(
      `SELECT count(*) FILTER (WHERE queue_ms IS NOT NULL)::int AS queued, count(*)::int AS requests,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(queue_ms, 0)) AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY coalesce(queue_ms, 0)) AS p99,
              count(*) FILTER (WHERE status = 'rejected' AND http_status = 429 AND queue_ms IS NOT NULL)::int AS refused
       FROM usage_events WHERE tenant = $1 AND ts > now() - interval '24 hours'`,
      [tenant],
    ),
  );
  // Postgres lags the spool by a batch; Redis has settled spend at once for capped tenants.
  const live = await liveSpend(deps, tenant);
  const l = caller.tenant.spec.limits;
  return {
    object: "dashboard.summary",
    tenant,
    caps: { daily_usd: l?.dailySpendUSD ?? null, monthly_usd: l?.monthlySpendUSD ?? null },
    spend: {
      daily_usd: Math.max(Number(rows[0].d) / 1e6, live?.daily ?? 0),
      monthly_usd: Math.max(Number(rows[0].m) / 1e6, live?.monthly ?? 0),
    },
    rate_limits: {
      requests_per_minute: l?.requestsPerMinute ?? null,
      tokens_per_minute: l?.tokensPerMinute ?? null,
      max_concurrent: l?.maxConcurrent ?? null,
    },
    alert_thresholds: l?.alertThresholds ?? [],
    retrieval: {
      searches_today: Number(retrieval.rows[0].d),
      searches_this_month: Number(retrieval.rows[0].m),
      stored_bytes: Number(retrieval.rows[0].bytes),
    },
    queue_wait: {
      requests: waits[0].requests,
      queued: waits[0].queued,
      refused: waits[0].refused,
      p50_ms: waits[0].p50 === null ? null : Math.round(Number(waits[0].p50)),
      p99_ms: waits[0].p99 === null ? null : Math.round(Number(waits[0].p99)),
    },
  };
}

// Spreadsheet formula injection: a cell starting with = + - @ is shown as text.
const cell = (v: unknown) => {
  let s = String(v ?? "");
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

export function createDashboardRouter(deps: DashboardDeps): Router {
  const router = express.Router();
  router.get("/dashboard", (_req, res) => {
    res.set({
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": CSP,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    });
    res.send(PAGE);
  });
  router.get(
    "/v1/dashboard/summary",
    route(deps, async (caller, _q, res) => {
      res.json(await summary(deps, caller));
    }),
  );
  router.get(
    "/v1/dashboard/export.csv",
    route(deps, async (caller, q, res) => {
      const start = unixTime(q, "start_time", true)!;
      const end = unixTime(q, "end_time", false) ?? Date.now() / 1000 + 86_400;
      if (end <= start || end - start > 366 * 86_400) {
        throw invalidRequest("The range must be positive and at most 366 days.", "end_time");
      }
      const tenant = caller.tenant.metadata.name;
      const { rows } = await withTenant(deps.pool, tenant, (c) =>
        c.query(
          `SELECT to_char(day, 'YYYY-MM-DD') AS date, model, CASE WHEN adapter = '' THEN '' ELSE adapter || '@' || adapter_version END AS adapter,
                  end_user, feature, sum(requests - rejected)::bigint AS requests, sum(rejected)::bigint AS rejected,
                  sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
                  sum(input_cost_micro + output_cost_micro)::bigint AS cost_micro
           FROM usage_daily
           WHERE tenant = $1 AND day >= (to_timestamp($2) AT TIME ZONE 'UTC')::date AND day < (to_timestamp($3) AT TIME ZONE 'UTC')::date
           GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`,
          [tenant, start, end],
        ),
      );
      const header = "date,model,adapter,user,feature,requests,rejected,input_tokens,output_tokens,cost_usd";
      const lines = rows.map((r) =>
        [
          r.date,
          r.model,
          r.adapter,
          r.end_user,
          r.feature,
          r.requests,
          r.rejected,
          r.input_tokens,
          r.output_tokens,
          Number(r.cost_micro) / 1e6,
        ]
          .map(cell)
          .join(","),
      );
      res.set({
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="usage-${tenant}.csv"`,
      });
      res.send(`${[header, ...lines].join("\n")}\n`);
    }),
  );
  return router;
}
