// The fair dispatcher against real Postgres and Redis (BullMQ): a tenant that queued many jobs
// cannot starve one that queued one, per-tenant caps and the global capacity hold, a cancelled
// job is never dispatched, and dispatching is idempotent (one BullMQ job per fine-tune).
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createPgPool } from "../../core/db.ts";
import { migrate } from "../../core/migrate.ts";
import { parseTenant, type Tenant } from "../../core/tenant.ts";
import { createJobsStore, type JobsStore, type NewJob } from "../../fine-tuning/jobs-store.ts";
import { createDispatcher, type Dispatcher } from "../../trainer/queue.ts";
import { uniqueName } from "../support/unique.ts";

const cfg = loadServiceConfig();
const schema = uniqueName("trainer_q").replaceAll("-", "_");
const hog = uniqueName("hog");
const small = uniqueName("small");
const capped = uniqueName("capped");
let pool: pg.Pool;
let jobs: JobsStore;
let dispatcher: Dispatcher;

function tenant(name: string, limits?: object): Tenant {
  const r = parseTenant({
    apiVersion: "loraplex.io/v1alpha1",
    kind: "Tenant",
    metadata: { name },
    spec: { tier: "shared", models: ["base-model"], limits },
  });
  if (!r.ok) throw new Error(r.error);
  return r.tenant;
}
const tenants = new Map([
  [hog, tenant(hog)],
  [small, tenant(small)],
  [capped, tenant(capped, { maxConcurrentFineTunes: 1 })],
]);

const job: NewJob = {
  model: "base-model",
  training_file: "file-abc",
  validation_file: null,
  suffix: null,
  seed: 1,
  hyperparameters: { n_epochs: 1, batch_size: 1, learning_rate_multiplier: 1, lora_rank: 8, lora_alpha: 16 },
};
const submit = async (t: string, n: number) => {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await jobs.createJob(t, job)).id);
  return ids;
};
const succeed = (t: string, id: string) =>
  jobs.finishJob(t, id, { status: "succeeded", fineTunedModel: `ft:x:${t}::${id}` });

beforeAll(async () => {
  pool = createPgPool(cfg, { schema });
  await migrate(pool, { schema });
  jobs = createJobsStore(pool);
  dispatcher = createDispatcher({
    pool,
    redisUrl: cfg.REDIS_URL,
    prefix: uniqueName("bullq"),
    capacity: 2,
    tenant: (n) => tenants.get(n),
  });
});
afterAll(async () => {
  await dispatcher?.queue.obliterate({ force: true }).catch(() => {});
  await dispatcher?.close();
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  await pool?.end();
});

describe("fair dispatch", () => {
  it("gives a one-job tenant the next free slot ahead of a tenant with many queued", async () => {
    const hogIds = await submit(hog, 30);
    // Only the hog is waiting: it may use the whole capacity.
    expect(await dispatcher.dispatchOnce()).toEqual(hogIds.slice(0, 2));
    expect(await dispatcher.dispatchOnce()).toEqual([]);
    const [smallId] = await submit(small, 1);
    expect(await succeed(hog, hogIds[0]!)).toBe(true);
    // One slot frees: it goes to the tenant holding none, not to the hog's third job.
    expect(await dispatcher.dispatchOnce()).toEqual([smallId]);
    const task = await dispatcher.queue.getJob(smallId!);
    expect(task?.data).toEqual({ jobId: smallId, tenant: small });
    // With the small tenant's job done, the hog gets its next jobs in order again.
    await succeed(small, smallId!);
    await succeed(hog, hogIds[1]!);
    expect(await dispatcher.dispatchOnce()).toEqual(hogIds.slice(2, 4));
    for (const id of hogIds.slice(2, 4)) await succeed(hog, id);
    for (const id of hogIds.slice(4)) await jobs.cancelJob(hog, id);
  });

  it("honours a tenant's maxConcurrentFineTunes and never dispatches a cancelled job", async () => {
    const ids = await submit(capped, 3);
    await jobs.cancelJob(capped, ids[0]!);
    expect(await dispatcher.dispatchOnce()).toEqual([ids[1]]);
    // The second slot stays free: the tenant is at its own cap of 1.
    expect(await dispatcher.dispatchOnce()).toEqual([]);
    expect(await jobs.markRunning(capped, ids[1]!)).toBe(true);
    await jobs.finishJob(capped, ids[1]!, {
      status: "failed",
      error: { code: "training_failed", message: "bad", param: null },
    });
    expect(await dispatcher.dispatchOnce()).toEqual([ids[2]]);
    expect(await dispatcher.queue.getJob(ids[0]!)).toBeUndefined();
    // One BullMQ job per dispatched fine-tune, no more: 5 in the first test, 2 here.
    const counts = await dispatcher.queue.getJobCounts("waiting");
    expect(counts.waiting).toBe(7);
    const failed = await jobs.getJob(capped, ids[1]!);
    expect(failed).toMatchObject({ status: "failed", error: { message: "bad" } });
  });
});
