// Tenant erasure, called by the controller's Tenant finalizer: removes the tenant's API keys,
// usage events, rollups, audit rows, stored responses, file and fine-tune records, vector stores with their files
// and chunks (retrieval/erasure.ts) (their S3 bytes go with the
// tenant's prefix, which the controller deletes), Redis counters/reservations and spooled
// events not yet written, and returns how many of each. A tombstone (tenant_erasures) makes the usage writer
// drop any of the tenant's events still on their way (a batch in flight, a request finishing).
import type { Redis } from "ioredis";
import type pg from "pg";
import { deleteKeysMatching } from "../core/redis.ts";
import type { KeySpace } from "../core/redis-keys.ts";
import { eraseRetrievalData, type RetrievalErasureCounts } from "../retrieval/erasure.ts";
import { fieldOf } from "./spool.ts";
import { ERASURE_LOCK_SQL } from "./usage-store.ts";

export type ErasureCounts = RetrievalErasureCounts & {
  apiKeys: number;
  usageEvents: number;
  rollups: number;
  auditRows: number;
  /** Stored responses of the Responses API. */
  responses: number;
  files: number;
  /** Fine-tune jobs; their events and checkpoints go with them (ON DELETE CASCADE). */
  fineTuneJobs: number;
  redisKeys: number;
  spoolEntries: number;
};

async function deleteSpoolEntries(redis: Redis, stream: string, tenant: string): Promise<number> {
  let removed = 0;
  let from = "-";
  for (;;) {
    const entries = await redis.xrange(stream, from, "+", "COUNT", 5_000);
    if (entries.length === 0) return removed;
    const mine = entries.filter(([, f]) => fieldOf(f, "t") === tenant).map(([id]) => id);
    if (mine.length > 0) removed += await redis.xdel(stream, ...mine);
    if (entries.length < 5_000) return removed;
    from = `(${entries.at(-1)![0]}`;
  }
}

export async function eraseTenantData(
  pool: pg.Pool,
  redis: Redis,
  tenant: string,
  opts: { keys: KeySpace },
): Promise<ErasureCounts> {
  const client = await pool.connect();
  let counts: Omit<ErasureCounts, "redisKeys" | "spoolEntries">;
  try {
    await client.query("BEGIN");
    // Waits for usage batches in flight; later batches see the tombstone.
    await client.query(`SELECT pg_advisory_xact_lock(${ERASURE_LOCK_SQL})`);
    await client.query(
      `INSERT INTO tenant_erasures (tenant, erased_at) VALUES ($1, now())
       ON CONFLICT (tenant) DO UPDATE SET erased_at = now()`,
      [tenant],
    );
    const del = async (table: string) =>
      (await client.query(`DELETE FROM ${table} WHERE tenant = $1`, [tenant])).rowCount ?? 0;
    counts = {
      apiKeys: await del("api_keys"),
      usageEvents: await del("usage_events"),
      rollups: await del("usage_daily"),
      auditRows: await del("audit_log"),
      responses: await del("responses"),
      files: await del("files"),
      fineTuneJobs: await del("fine_tune_jobs"),
      ...(await eraseRetrievalData(client, tenant)),
    };
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
  const spoolEntries = await deleteSpoolEntries(redis, opts.keys.spool(), tenant);
  const redisKeys = await deleteKeysMatching(redis, opts.keys.tenantPattern(tenant));
  return { ...counts, redisKeys, spoolEntries };
}
