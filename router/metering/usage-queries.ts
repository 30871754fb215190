// SQL for the usage and costs APIs. Day buckets read the daily rollups; minute and hour buckets
// read raw events through the (tenant, ts) index of the months they touch. Every query filters
// by tenant explicitly and runs under row-level security (tenant-db.ts) as well.
import type pg from "pg";
import type { BucketWindow } from "./api-params.ts";

export const USAGE_GROUPS = ["model", "user_id", "api_key_id", "adapter", "feature"] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

const GROUP_SQL: Record<UsageGroup, { select: string; group: string }> = {
  model: { select: "model", group: "model" },
  user_id: { select: "end_user AS user_id", group: "end_user" },
  api_key_id: { select: "key_id AS api_key_id", group: "key_id" },
  adapter: {
    select: "CASE WHEN adapter = '' THEN '' ELSE adapter || '@' || adapter_version END AS adapter",
    group: "adapter, adapter_version",
  },
  feature: { select: "feature", group: "feature" },
};

export type UsageFilters = {
  models: string[];
  userIds: string[];
  apiKeyIds: string[];
  adapters: string[];
  features: string[];
};

export type UsageRow = {
  bucket: number;
  model?: string;
  user_id?: string;
  api_key_id?: string;
  adapter?: string;
  feature?: string;
  input_tokens: number;
  output_tokens: number;
  num_model_requests: number;
  input_cost_micro: number;
  output_cost_micro: number;
};

export type UsageQuery = {
  tenant: string;
  endpoints: string[];
  window: BucketWindow;
  /** The page: [from, to) in Unix seconds, on bucket boundaries. */
  from: number;
  to: number;
  groups: UsageGroup[];
  filters: UsageFilters;
};

export async function queryUsage(client: pg.PoolClient, q: UsageQuery): Promise<UsageRow[]> {
  const daily = q.window.width === "1d";
  const params: unknown[] = [q.tenant, q.endpoints, q.from, q.to];
  const where = ["tenant = $1", "endpoint = ANY($2::text[])"];
  if (daily) {
    where.push(
      "day >= (to_timestamp($3) AT TIME ZONE 'UTC')::date",
      "day < (to_timestamp($4) AT TIME ZONE 'UTC')::date",
    );
  } else {
    where.push("ts >= to_timestamp($3)", "ts < to_timestamp($4)", "status <> 'rejected'");
  }
  const filter = (column: string, values: string[]) => {
    if (values.length === 0) return;
    params.push(values);
    where.push(`${column} = ANY($${params.length}::text[])`);
  };
  filter("model", q.filters.models);
  filter("end_user", q.filters.userIds);
  filter("key_id", q.filters.apiKeyIds);
  filter("adapter", q.filters.adapters);
  filter("feature", q.filters.features);
  let bucket: string;
  if (daily) bucket = "extract(epoch FROM day)::bigint";
  else {
    params.push(q.window.seconds);
    bucket = `(floor(extract(epoch FROM ts) / $${params.length}) * $${params.length})::bigint`;
  }
  const sums = daily
    ? `sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(requests - rejected) AS num_model_requests,
       sum(input_cost_micro) AS input_cost_micro, sum(output_cost_micro) AS output_cost_micro`
    : `sum(prompt_tokens) AS input_tokens, sum(completion_tokens) AS output_tokens,
       count(*) AS num_model_requests,
       sum(input_cost_micro) AS input_cost_micro, sum(output_cost_micro) AS output_cost_micro`;
  const selects = q.groups.map((g) => GROUP_SQL[g].select);
  const groupCols = q.groups.map((g) => GROUP_SQL[g].group);
  const sql = `SELECT ${[`${bucket} AS bucket`, ...selects].join(", ")}, ${sums}
    FROM ${daily ? "usage_daily" : "usage_events"}
    WHERE ${where.join(" AND ")}
    GROUP BY ${["1", ...groupCols].join(", ")}
    ORDER BY 1${groupCols.length ? `, ${groupCols.join(", ")}` : ""}`;
  const { rows } = await client.query(sql, params);
  return rows.map((r) => {
    const out: UsageRow = {
      bucket: Number(r.bucket),
      input_tokens: Number(r.input_tokens ?? 0),
      output_tokens: Number(r.output_tokens ?? 0),
      num_model_requests: Number(r.num_model_requests ?? 0),
      input_cost_micro: Number(r.input_cost_micro ?? 0),
      output_cost_micro: Number(r.output_cost_micro ?? 0),
    };
    for (const g of q.groups) out[g] = r[g] as string;
    return out;
  });
}
