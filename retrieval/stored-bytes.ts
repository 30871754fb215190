// The tenant's stored vector-store bytes per UTC day: after every change, the day's row keeps
// the largest total seen and the latest one. Storage is billed per GB-day from these rows.
import type pg from "pg";

export async function recordStoredBytes(client: pg.PoolClient | pg.Pool, tenant: string): Promise<void> {
  await client.query(
    `INSERT INTO vector_store_bytes_daily (tenant, day, max_bytes, last_bytes)
     SELECT $1, (now() AT TIME ZONE 'UTC')::date, t, t
       FROM (SELECT coalesce(sum(usage_bytes), 0)::bigint AS t FROM vector_store_files WHERE tenant = $1) x
     ON CONFLICT (tenant, day) DO UPDATE
       SET max_bytes = greatest(vector_store_bytes_daily.max_bytes, EXCLUDED.last_bytes),
           last_bytes = EXCLUDED.last_bytes`,
    [tenant],
  );
}

/**
 * Bytes billed for each day of [fromDay, toDay): the day's largest total, or the latest total
 * of the days before it when nothing changed that day. Runs in the caller's (RLS) transaction.
 */
export async function storedBytesByDay(
  client: pg.PoolClient,
  tenant: string,
  fromUnix: number,
  toUnix: number,
): Promise<Map<number, number>> {
  const { rows } = await client.query<{ day: string; bytes: string }>(
    `SELECT extract(epoch FROM d)::bigint AS day,
            coalesce(
              (SELECT max_bytes FROM vector_store_bytes_daily WHERE tenant = $1 AND day = d::date),
              (SELECT last_bytes FROM vector_store_bytes_daily WHERE tenant = $1 AND day < d::date
                ORDER BY day DESC LIMIT 1),
              0) AS bytes
     FROM generate_series((to_timestamp($2) AT TIME ZONE 'UTC')::date,
                          (to_timestamp($3) AT TIME ZONE 'UTC')::date - 1, interval '1 day') AS d`,
    [tenant, fromUnix, toUnix],
  );
  return new Map(rows.map((r) => [Number(r.day), Number(r.bytes)]));
}
