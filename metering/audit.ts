// Audit retention: rows older than each tenant's spec.audit.retentionDays are deleted, in small
// batches so the purge never holds long locks on a busy table. One router at a time runs it
// (a session advisory lock); the others skip that round.
import type pg from "pg";
import type { Logger } from "../core/log.ts";
import type { Tenant } from "../core/tenant.ts";

const BATCH = 5_000;

/** Deletes in batches until fewer than BATCH rows went; returns how many. */
async function deleteInBatches(pool: pg.Pool, sql: string, params: unknown[]): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await pool.query(sql, [...params, BATCH]);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < BATCH) return total;
  }
}

/**
 * Deletes each tenant's expired audit rows, and its stored responses (the Responses API keeps
 * conversations, which follow the audit trail's retention); returns audit rows deleted per tenant.
 */
export async function purgeExpiredAudit(
  pool: pg.Pool,
  tenants: readonly Tenant[],
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tenants) {
    const params = [t.metadata.name, t.spec.audit.retentionDays];
    const total = await deleteInBatches(
      pool,
      `DELETE FROM audit_log WHERE (tenant, ts, id) IN (
         SELECT tenant, ts, id FROM audit_log WHERE tenant = $1 AND ts < now() - make_interval(days => $2) LIMIT $3)`,
      params,
    );
    await deleteInBatches(
      pool,
      `DELETE FROM responses WHERE id IN (
         SELECT id FROM responses WHERE tenant = $1 AND created_at < now() - make_interval(days => $2) LIMIT $3)`,
      params,
    );
    if (total > 0) out[t.metadata.name] = total;
  }
  return out;
}

export type RetentionJob = { runOnce(): Promise<Record<string, number> | undefined>; stop(): void };

export function startAuditRetention(deps: {
  pool: pg.Pool;
  tenants: () => readonly Tenant[];
  log: Logger;
  intervalMs?: number;
}): RetentionJob {
  const { pool, log } = deps;
  async function runOnce(): Promise<Record<string, number> | undefined> {
    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ got: boolean }>(
        "SELECT pg_try_advisory_lock(hashtextextended('loraplex:audit-retention:' || current_schema(), 0)) AS got",
      );
      if (!rows[0]?.got) return undefined;
      try {
        const purged = await purgeExpiredAudit(pool, deps.tenants());
        if (Object.keys(purged).length > 0) log.info({ purged }, "expired audit rows purged");
        return purged;
      } finally {
        await client.query(
          "SELECT pg_advisory_unlock(hashtextextended('loraplex:audit-retention:' || current_schema(), 0))",
        );
      }
    } finally {
      client.release();
    }
  }
  const timer = setInterval(() => {
    runOnce().catch((e: Error) => log.warn({ err: e.message }, "audit retention run failed"));
  }, deps.intervalMs ?? 3_600_000);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
