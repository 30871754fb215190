// The fine-tuning queue. Postgres (fine_tune_jobs) is the queue of record and holds every
// waiting job; the dispatcher hands a job to BullMQ only when a training slot is free for it,
// picking fairly across tenants (fairness.ts). BullMQ then gives the worker what it is good at:
// retries with backoff, and recovery of a job whose worker died (stalled-job handling). The
// BullMQ job id is the fine-tune id, so dispatching twice can never run one fine-tune twice.
import { Queue } from "bullmq";
import type pg from "pg";
import { bullConnection } from "../core/redis.ts";
import type { Tenant } from "../core/tenant.ts";
import { planDispatch, tierWeight } from "./fairness.ts";

export const QUEUE_NAME = "fine-tunes";
export type FineTuneTask = { jobId: string; tenant: string };

export type DispatcherOptions = {
  pool: pg.Pool;
  /** Redis for BullMQ (it brings its own client, so it takes the URL, e.g. cfg.REDIS_URL). */
  redisUrl: string;
  /** BullMQ key prefix; tests use their own. */
  prefix?: string;
  /** Global training capacity: fine-tunes running at once across all tenants (GPUs). */
  capacity: number;
  /** The current Tenant by name; a tenant that is gone gets no slot. */
  tenant(name: string): Tenant | undefined;
  /** Retries for infrastructure failures (the worker marks bad data as failed without retrying). */
  attempts?: number;
};

export type Dispatcher = {
  queue: Queue<FineTuneTask, unknown, string>;
  /** Moves as many waiting jobs to BullMQ as free slots allow; returns the job ids dispatched. */
  dispatchOnce(): Promise<string[]>;
  close(): Promise<void>;
};

export function createDispatcher(opts: DispatcherOptions): Dispatcher {
  const queue: Queue<FineTuneTask, unknown, string> = new Queue(QUEUE_NAME, {
    connection: bullConnection(opts.redisUrl),
    prefix: opts.prefix,
  });
  const limitOf = (name: string) => {
    const t = opts.tenant(name);
    if (!t) return 0;
    return t.spec.limits?.maxConcurrentFineTunes ?? Number.POSITIVE_INFINITY;
  };
  const weightOf = (name: string) => tierWeight(opts.tenant(name)?.spec.tier ?? "shared");

  async function dispatchOnce(): Promise<string[]> {
    const client = await opts.pool.connect();
    try {
      await client.query("BEGIN");
      // One dispatcher at a time per schema: two trainer replicas must not both fill a slot.
      await client.query(
        "SELECT pg_advisory_xact_lock(hashtextextended('loraplex:ft-dispatch:' || current_schema(), 0))",
      );
      const active = await client.query<{ tenant: string; running: string; last: Date | null }>(
        `SELECT tenant,
                count(*) FILTER (WHERE status IN ('queued', 'running') AND dispatched_at IS NOT NULL) AS running,
                max(dispatched_at) AS last
         FROM fine_tune_jobs GROUP BY tenant`,
      );
      const running = new Map(active.rows.map((r) => [r.tenant, Number(r.running)]));
      const lastServed = new Map(
        active.rows.filter((r) => r.last !== null).map((r) => [r.tenant, (r.last as Date).getTime()]),
      );
      const waiting = await client.query<{ id: string; tenant: string }>(
        "SELECT id, tenant FROM fine_tune_jobs WHERE status = 'queued' AND dispatched_at IS NULL ORDER BY seq LIMIT 10000",
      );
      const picked = planDispatch({
        waiting: waiting.rows,
        running,
        lastServed,
        capacity: opts.capacity,
        limitOf,
        weightOf,
      });
      if (picked.length > 0) {
        await client.query("UPDATE fine_tune_jobs SET dispatched_at = clock_timestamp() WHERE id = ANY($1)", [
          picked.map((j) => j.id),
        ]);
        // Added before COMMIT: if the commit fails the jobs are dispatched again under the same
        // BullMQ ids, which BullMQ ignores as duplicates.
        await queue.addBulk(
          picked.map((j) => ({
            name: "fine-tune",
            data: { jobId: j.id, tenant: j.tenant },
            opts: {
              jobId: j.id,
              attempts: opts.attempts ?? 3,
              backoff: { type: "exponential", delay: 10_000 },
              removeOnComplete: 1000,
              removeOnFail: 1000,
            },
          })),
        );
      }
      await client.query("COMMIT");
      return picked.map((j) => j.id);
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  return {
    queue,
    dispatchOnce,
    async close() {
      await queue.close();
      await queue.disconnect();
    },
  };
}

export { bullConnection };
