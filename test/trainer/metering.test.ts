// Fine-tunes are metered: one usage event (through the router's spool and writer, real Redis and
// Postgres), an audit row, and the cost added to the tenant's spend, once per fine-tune. The last
// test goes through the real trainer worker, dispatcher and local executor (without a Python
// environment, so the fine-tune fails) to show the worker meters what the executors end.
import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createS3Client } from "../../core/s3.ts";
import { createJobsStore, type JobsStore } from "../../fine-tuning/jobs-store.ts";
import { periodsAt } from "../../metering/budget.ts";
import { parsePriceTable } from "../../metering/prices.ts";
import { createSpool, type Spool } from "../../metering/spool.ts";
import { createUsageStore } from "../../metering/usage-store.ts";
import { createUsageWriter, type UsageWriter } from "../../metering/usage-writer.ts";
import { createLocalExecutor } from "../../trainer/executor-local.ts";
import { createFineTuneMeter, type FineTuneMeter, trainedTokensOf } from "../../trainer/metering.ts";
import { bullConnection, createDispatcher, QUEUE_NAME } from "../../trainer/queue.ts";
import { startTrainerWorker } from "../../trainer/worker.ts";
import { log, type TestRedis, tenant, testRedis } from "../metering/harness.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { uniqueName } from "../support/unique.ts";

const cfg = loadServiceConfig();
const BASE = "base-8b";
const PRICES = parsePriceTable({ fineTuning: { per1kTrainedTokens: 0.01, perGpuHour: 3600 } });
const GPUS = 2;
const tenants = { acme: tenant("acme"), initech: tenant("initech") };
let db: TestDb;
let r: TestRedis;
let spool: Spool;
let writer: UsageWriter;
let jobs: JobsStore;
let meter: FineTuneMeter;

async function submit(t: string, bytes: number) {
  const fileId = `file-${randomBytes(8).toString("hex")}`;
  await db.pool.query(
    "INSERT INTO files (id, tenant, filename, purpose, bytes) VALUES ($1, $2, $3, $4, $5)",
    [fileId, t, "train.jsonl", "fine-tune", bytes],
  );
  return jobs.createJob(t, {
    model: BASE,
    training_file: fileId,
    validation_file: null,
    suffix: "m",
    seed: 1,
    hyperparameters: {
      n_epochs: 3,
      batch_size: 1,
      learning_rate_multiplier: 1,
      lora_rank: 8,
      lora_alpha: 16,
    },
  });
}

async function spent(t: string) {
  const p = periodsAt(Date.now());
  const day = await r.redis.hget(r.keys.dayBudget(t, p.day), "spent");
  const month = await r.redis.hget(r.keys.monthBudget(t, p.month), "spent");
  return { day: Number(day ?? 0), month: Number(month ?? 0) };
}

async function eventsOf(jobId: string) {
  await spool.flush();
  await writer.drain();
  const { rows } = await db.pool.query(
    `SELECT tenant, endpoint, base_model, adapter, status, prompt_tokens, gpu_seconds, duration_ms,
            input_cost_micro + output_cost_micro AS cost FROM usage_events WHERE request_id = $1`,
    [jobId],
  );
  const audit = await db.pool.query("SELECT tenant, decision, reason FROM audit_log WHERE request_id = $1", [
    jobId,
  ]);
  return { events: rows, audit: audit.rows };
}

beforeAll(async () => {
  db = await testDb("ft_metering");
  r = testRedis("ft-metering");
  spool = createSpool({ redis: r.redis, stream: r.keys.spool(), log });
  writer = createUsageWriter({
    redis: r.redis,
    stream: r.keys.spool(),
    store: createUsageStore(db.pool),
    log,
  });
  jobs = createJobsStore(db.pool);
  meter = createFineTuneMeter({
    pool: db.pool,
    redis: r.redis,
    keys: r.keys,
    prices: PRICES,
    spool,
    gpusPerJob: GPUS,
    tenant: (n) => tenants[n as keyof typeof tenants],
    logger: log,
  });
}, 60_000);

afterAll(async () => {
  await writer?.stop();
  await spool?.close();
  await r?.cleanup();
  await db?.cleanup();
});

describe("fine-tune metering", () => {
  it("records a succeeded fine-tune once: tokens, GPU-seconds, cost, audit, and the tenant's spend", async () => {
    const before = await spent("initech");
    const job = await submit("acme", 4_000);
    expect(await jobs.markRunning("acme", job.id)).toBe(true);
    const ft = `ft:${BASE}:acme:m:${job.id.slice(6)}`;
    expect(await jobs.finishJob("acme", job.id, { status: "succeeded", fineTunedModel: ft })).toBe(true);

    const usage = await meter.jobEnded("acme", job.id);
    expect(usage?.status).toBe("succeeded");
    expect(usage?.trainedTokens).toBe(trainedTokensOf(4_000, 3));
    expect(usage?.gpuSeconds).toBeGreaterThanOrEqual(0);
    // 3,000 tokens at $0.01/1k = 30,000 micro-USD, plus GPU time at $1/GPU-second.
    expect(usage?.costMicro).toBe(30_000 + Math.ceil(usage!.gpuSeconds * 1_000_000 - 1e-9));
    expect(await meter.jobEnded("acme", job.id)).toBeUndefined(); // a repeat records nothing

    const { events, audit } = await eventsOf(job.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      tenant: "acme",
      endpoint: "fine_tuning.jobs",
      base_model: BASE,
      adapter: ft,
      status: "ok",
      prompt_tokens: 3_000,
      cost: String(usage!.costMicro),
    });
    expect(events[0].gpu_seconds).toBeCloseTo(usage!.gpuSeconds, 2);
    expect(events[0].gpu_seconds).toBeCloseTo((events[0].duration_ms / 1000) * GPUS, 2);
    expect(audit).toEqual([{ tenant: "acme", decision: "served", reason: "fine_tune_succeeded" }]);

    expect(await spent("acme")).toEqual({ day: usage!.costMicro, month: usage!.costMicro });
    expect(await spent("initech")).toEqual(before);
    const other = await db.pool.query("SELECT count(*)::int AS n FROM usage_events WHERE tenant = 'initech'");
    expect(other.rows[0].n).toBe(0);
  });

  it("records a fine-tune that has not ended as nothing", async () => {
    const job = await submit("acme", 100);
    expect(await meter.jobEnded("acme", job.id)).toBeUndefined();
    expect((await eventsOf(job.id)).events).toHaveLength(0);
  });

  it("meters a fine-tune the worker's executor failed, with status failed", async () => {
    const prefix = uniqueName("bull-ft-meter");
    const dispatcher = createDispatcher({
      pool: db.pool,
      redisUrl: cfg.REDIS_URL,
      prefix,
      capacity: 1,
      tenant: (n) => tenants[n as keyof typeof tenants],
    });
    const executor = createLocalExecutor({
      pool: db.pool,
      jobs,
      s3: createS3Client(cfg),
      cfg,
      python: "/nonexistent/trainer-venv/bin/python",
      tenant: (n) => tenants[n as keyof typeof tenants],
      pollMs: 100,
      logger: log,
    });
    const localMeter = createFineTuneMeter({
      pool: db.pool,
      redis: r.redis,
      keys: r.keys,
      prices: PRICES,
      spool,
      gpusPerJob: 0,
      tenant: (n) => tenants[n as keyof typeof tenants],
      logger: log,
    });
    const worker = startTrainerWorker({
      dispatcher,
      executor,
      jobs,
      redisUrl: cfg.REDIS_URL,
      prefix,
      concurrency: 1,
      dispatchIntervalMs: 100,
      logger: log,
      // As `loraplex trainer --executor local` does: local training holds no cluster GPU.
      onEnded: (t) => localMeter.jobEnded(t.tenant, t.jobId),
    });
    try {
      const job = await submit("initech", 800);
      let seen: Awaited<ReturnType<typeof eventsOf>> = { events: [], audit: [] };
      for (let i = 0; i < 600 && seen.events.length === 0; i++) {
        await new Promise((res) => setTimeout(res, 100));
        seen = await eventsOf(job.id);
      }
      expect((await jobs.getJob("initech", job.id))?.status).toBe("failed");
      expect(seen.events).toHaveLength(1);
      expect(seen.events[0]).toMatchObject({
        tenant: "initech",
        status: "failed",
        prompt_tokens: 0,
        gpu_seconds: 0,
        cost: "0",
      });
      expect(seen.audit).toEqual([
        { tenant: "initech", decision: "failed", reason: "fine_tune_failed:training_unavailable" },
      ]);
    } finally {
      await worker.close();
      await dispatcher.close();
      const q = new Queue(QUEUE_NAME, { connection: bullConnection(cfg.REDIS_URL), prefix });
      await q.obliterate({ force: true }).catch(() => {});
      await q.close();
    }
  }, 90_000);
});
