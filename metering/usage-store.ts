// Writes a batch of spooled entries to Postgres in one statement and one transaction: usage
// events (a multi-row INSERT from one JSON array parameter, parsed by Postgres in C — the writer
// never parses or rebuilds the entries), the daily rollups of exactly the rows that were new
// (ON CONFLICT DO NOTHING + RETURNING, so a replayed batch counts nothing twice), and the audit
// rows. A shared advisory lock lets tenant erasure wait for batches in flight; events of an
// erased tenant that arrive later are skipped by its tombstone.
import type pg from "pg";
import type { SpooledRow } from "./spool.ts";

// Column in the table, its type, and the field of the spooled JSON object it comes from.
const EVENT_COLUMNS = [
  ["id", "uuid", "id"],
  ["ts", "timestamptz", "ts"],
  ["request_id", "text", "requestId"],
  ["tenant", "text", "tenant"],
  ["key_id", "text", "keyId"],
  ["end_user", "text", "endUser"],
  ["feature", "text", "feature"],
  ["endpoint", "text", "endpoint"],
  ["model", "text", "model"],
  ["base_model", "text", "baseModel"],
  ["adapter", "text", "adapter"],
  ["adapter_version", "integer", "adapterVersion"],
  ["replica", "text", "replica"],
  ["prompt_tokens", "integer", "promptTokens"],
  ["completion_tokens", "integer", "completionTokens"],
  ["input_cost_micro", "bigint", "inputCostMicro"],
  ["output_cost_micro", "bigint", "outputCostMicro"],
  ["ttft_ms", "real", "ttftMs"],
  ["duration_ms", "real", "durationMs"],
  ["status", "text", "status"],
  ["http_status", "smallint", "httpStatus"],
  ["reason", "text", "reason"],
  ["stream", "boolean", "stream"],
  ["gpu_seconds", "real", "gpuSeconds"],
  ["queue_ms", "real", "queueMs"],
] as const;

const COLUMNS = EVENT_COLUMNS.map(([n]) => n).join(", ");
const RECORD = [...EVENT_COLUMNS.map(([, t, f]) => `"${f}" ${t}`), "audit json", "repaired jsonb"].join(", ");
const PICK = [...EVENT_COLUMNS.map(([n, , f]) => `j."${f}" AS ${n}`), "j.audit", "j.repaired"].join(", ");
const notErased =
  "NOT EXISTS (SELECT 1 FROM tenant_erasures e WHERE e.tenant = x.tenant AND x.ts <= e.erased_at)";
const ROLLUP_KEY =
  "tenant, day, endpoint, model, base_model, adapter, adapter_version, key_id, end_user, feature";

const INSERT_BATCH = `
WITH src AS (
  SELECT ${PICK} FROM json_to_recordset($1::json) AS j(${RECORD})
), ins AS (
  INSERT INTO usage_events (${COLUMNS})
  SELECT ${COLUMNS} FROM src x WHERE ${notErased}
  ON CONFLICT DO NOTHING
  RETURNING tenant, ts, endpoint, model, base_model, adapter, adapter_version, key_id, end_user, feature, status,
            prompt_tokens, completion_tokens, input_cost_micro, output_cost_micro, duration_ms
), rolled AS (
  INSERT INTO usage_daily (${ROLLUP_KEY}, requests, rejected, failed, input_tokens, output_tokens,
                           input_cost_micro, output_cost_micro, duration_ms)
  SELECT tenant, (ts AT TIME ZONE 'UTC')::date AS day, endpoint, model, base_model, adapter, adapter_version,
         key_id, end_user, feature, count(*),
         count(*) FILTER (WHERE status = 'rejected'),
         count(*) FILTER (WHERE status NOT IN ('ok', 'rejected')),
         sum(prompt_tokens), sum(completion_tokens), sum(input_cost_micro), sum(output_cost_micro), sum(duration_ms)
  FROM ins
  GROUP BY ${ROLLUP_KEY}
  ORDER BY ${ROLLUP_KEY}
  ON CONFLICT (${ROLLUP_KEY}) DO UPDATE SET
    requests = usage_daily.requests + excluded.requests,
    rejected = usage_daily.rejected + excluded.rejected,
    failed = usage_daily.failed + excluded.failed,
    input_tokens = usage_daily.input_tokens + excluded.input_tokens,
    output_tokens = usage_daily.output_tokens + excluded.output_tokens,
    input_cost_micro = usage_daily.input_cost_micro + excluded.input_cost_micro,
    output_cost_micro = usage_daily.output_cost_micro + excluded.output_cost_micro,
    duration_ms = usage_daily.duration_ms + excluded.duration_ms
  RETURNING 1
), audited AS (
  INSERT INTO audit_log (id, ts, tenant, request_id, key_id, end_user, model, base_model, adapter, adapter_version,
                         policy_hash, decision, reason, mode, prompt, response, prompt_sha256, response_sha256, repaired)
  SELECT id, ts, tenant, request_id, key_id, end_user, model, base_model, adapter, adapter_version,
         audit->>'policyHash',
         CASE status WHEN 'ok' THEN 'served' WHEN 'rejected' THEN 'rejected' ELSE 'failed' END,
         reason, audit->>'mode', audit->>'prompt', audit->>'response', audit->>'promptSha256', audit->>'responseSha256',
         NULLIF(COALESCE(repaired, '{}') || COALESCE((audit->'repaired')::jsonb, '{}'), '{}')
  FROM src x WHERE audit IS NOT NULL AND ${notErased}
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int AS inserted`;

/** The lock key erasure takes exclusively and every batch takes shared, per schema. */
export const ERASURE_LOCK_SQL = "hashtextextended('loraplex:metering:erasure:' || current_schema(), 0)";

export type UsageStore = {
  /** Inserts the batch; returns how many usage rows were new. Throws when Postgres fails. */
  write(rows: SpooledRow[]): Promise<number>;
};

const MONTH = /^\d{4}-\d{2}$/;

export function createUsageStore(pool: pg.Pool): UsageStore {
  const months = new Set<string>();
  // Idle clients error when Postgres goes away; without a listener that would end the process.
  if (pool.listenerCount("error") === 0) pool.on("error", () => {});

  async function ensurePartitions(rows: SpooledRow[]): Promise<void> {
    const missing = new Set<string>();
    for (const r of rows) if (!months.has(r.month) && MONTH.test(r.month)) missing.add(r.month);
    for (const m of missing) {
      await pool.query("SELECT ensure_usage_events_partition($1::timestamptz)", [`${m}-01T00:00:00Z`]);
      months.add(m);
    }
  }

  return {
    async write(rows) {
      if (rows.length === 0) return 0;
      await ensurePartitions(rows);
      const client = await pool.connect();
      // A checked-out client emits 'error' when Postgres dies under it; the query fails anyway.
      const onError = () => {};
      client.on("error", onError);
      try {
        await client.query("BEGIN");
        // The spool deletes entries once COMMIT returns, so COMMIT must mean on disk, whatever
        // the server's default (an asynchronous commit lost in a crash would lose those events).
        await client.query("SET LOCAL synchronous_commit TO on");
        await client.query(`SELECT pg_advisory_xact_lock_shared(${ERASURE_LOCK_SQL})`);
        const res = await client.query<{ inserted: number }>(INSERT_BATCH, [
          `[${rows.map((r) => r.json).join(",")}]`,
        ]);
        await client.query("COMMIT");
        client.off("error", onError);
        client.release();
        return res.rows[0]!.inserted;
      } catch (e) {
        await client.query("ROLLBACK").catch(() => {});
        // A connection that failed mid-transaction may be broken (Postgres restarting): discard it.
        client.off("error", onError);
        client.release(true);
        throw e;
      }
    },
  };
}
