// Retrieval in the usage and costs APIs. GET /v1/organization/usage/vector_stores answers
// OpenAI's shape (day buckets with usage_bytes) plus Loraplex's retrieval counters: searches
// and the tokens embedded for them and for ingestion. The costs API gets the storage line
// (bytes × price per GB-day) beside the per-request costs of searches and embedding batches.
import type pg from "pg";
import { withTenant } from "../../metering/tenant-db.ts";
import { storedBytesByDay } from "../../retrieval/stored-bytes.ts";
import { EMBEDDINGS_ENDPOINT, SEARCH_ENDPOINT } from "../../retrieval/usage.ts";
import { bucketWindow } from "./api-params.ts";
import type { Handler, UsageApiDeps } from "./api-route.ts";
import { buckets, page } from "./buckets.ts";
import type { UsageGroup } from "./usage-queries.ts";

export const RETRIEVAL_ENDPOINTS = [SEARCH_ENDPOINT, EMBEDDINGS_ENDPOINT];
const GB = 1e9;

type Counters = { searches: number; searchTokens: number; embeddedTokens: number; batches: number };

async function countersByDay(c: pg.PoolClient, tenant: string, from: number, to: number) {
  const { rows } = await c.query<{ day: string; endpoint: string; requests: string; tokens: string }>(
    `SELECT extract(epoch FROM day)::bigint AS day, endpoint, sum(requests - rejected)::bigint AS requests,
            sum(input_tokens)::bigint AS tokens
     FROM usage_daily
     WHERE tenant = $1 AND endpoint = ANY($2::text[])
       AND day >= (to_timestamp($3) AT TIME ZONE 'UTC')::date AND day < (to_timestamp($4) AT TIME ZONE 'UTC')::date
     GROUP BY 1, 2`,
    [tenant, RETRIEVAL_ENDPOINTS, from, to],
  );
  const out = new Map<number, Counters>();
  for (const r of rows) {
    const day = Number(r.day);
    const c = out.get(day) ?? { searches: 0, searchTokens: 0, embeddedTokens: 0, batches: 0 };
    if (r.endpoint === SEARCH_ENDPOINT) {
      c.searches += Number(r.requests);
      c.searchTokens += Number(r.tokens);
    } else {
      c.batches += Number(r.requests);
      c.embeddedTokens += Number(r.tokens);
    }
    out.set(day, c);
  }
  return out;
}

export function vectorStoreUsageRoute(deps: UsageApiDeps): Handler {
  return async (caller, q, res) => {
    const w = bucketWindow(q, ["1d"], { "1d": { def: 7, max: 31 } });
    const p = page(q, "usage.vector_stores", w);
    const tenant = caller.tenant.metadata.name;
    const [bytes, counters] = await withTenant(
      deps.pool,
      tenant,
      async (c) =>
        [
          await storedBytesByDay(c, tenant, p.from, p.to),
          await countersByDay(c, tenant, p.from, p.to),
        ] as const,
    );
    const out = buckets(p, w.seconds, [], () => []);
    for (const b of out.data) {
      const n = counters.get(b.start_time);
      (b.results as unknown[]).push({
        object: "organization.usage.vector_stores.result",
        usage_bytes: bytes.get(b.start_time) ?? 0,
        project_id: null,
        num_retrieval_calls: n?.searches ?? 0,
        search_input_tokens: n?.searchTokens ?? 0,
        num_embedding_batches: n?.batches ?? 0,
        embedded_tokens: n?.embeddedTokens ?? 0,
      });
    }
    res.json(out);
  };
}

/** Adds each day's storage cost to the costs page's buckets (in place). */
export async function storageCostResults(
  deps: UsageApiDeps,
  tenant: string,
  data: { start_time: number; end_time: number; results: unknown[] }[],
  o: { lineItems: boolean; groups: UsageGroup[] },
): Promise<void> {
  const price = deps.storagePerGbDay ?? 0;
  if (price <= 0 || data.length === 0) return;
  const bytes = await withTenant(deps.pool, tenant, (c) =>
    storedBytesByDay(c, tenant, data[0]!.start_time, data.at(-1)!.end_time),
  );
  for (const b of data) {
    const stored = bytes.get(b.start_time) ?? 0;
    if (stored === 0) continue;
    const groups: Record<string, string | null> = {
      project_id: null,
      user_id: null,
      api_key_id: null,
      model: null,
      adapter: null,
      feature: null,
    };
    if (o.groups.includes("model")) groups.model = "vector_stores";
    b.results.push({
      object: "organization.costs.result",
      amount: { value: Math.round((stored / GB) * price * 1e6) / 1e6, currency: "usd" },
      line_item: o.lineItems ? "vector store storage" : null,
      ...groups,
    });
  }
}
