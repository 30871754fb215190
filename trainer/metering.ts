// Meters a fine-tune once it has ended (succeeded, failed or cancelled): one usage event through
// the router's spool (so the router's writers put it in usage_events, usage_daily and audit_log),
// and its cost added to the tenant's daily and monthly spend in Redis, so spend caps count
// fine-tunes too. A marker set in the same Lua call as the spend makes a repeat (a retried or
// taken-over task) record nothing: one event and one charge per fine-tune.
import type { Redis } from "ioredis";
import type pg from "pg";
import type { ServiceConfig } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import { createRedis } from "../core/redis.ts";
import { createKeySpace, type KeySpace } from "../core/redis-keys.ts";
import type { Tenant } from "../core/tenant.ts";
import { policyHash } from "../metering/audit-record.ts";
import { budgetKeys, DAY_KEEP_MS, MONTH_KEEP_MS, periodsAt } from "../metering/budget.ts";
import { loadMeteringConfig, meteringConfigured } from "../metering/config.ts";
import type { PriceTable } from "../metering/prices.ts";
import { createSpool, type Spool } from "../metering/spool.ts";
import { type UsageEvent, uuidv7 } from "../metering/usage-events.ts";
import { createUsageStore } from "../metering/usage-store.ts";
import { ADAPTER_VERSION } from "./job-manifest.ts";

const FINE_TUNE_ENDPOINT = "fine_tuning.jobs";

export type FineTuneMeterDeps = {
  pool: pg.Pool;
  redis: Redis;
  keys: KeySpace;
  prices: PriceTable;
  spool: Spool;
  /** GPUs each training run holds: --gpus for Kubernetes Jobs, 0 for the local executor. */
  gpusPerJob: number;
  tenant(name: string): Tenant | undefined;
  logger: Logger;
};

export type FineTuneUsage = {
  status: "succeeded" | "failed" | "cancelled";
  trainedTokens: number;
  gpuSeconds: number;
  costMicro: number;
};

type EndedRow = {
  status: string;
  model: string;
  fine_tuned_model: string | null;
  error: { code?: string } | null;
  hyperparameters: { n_epochs?: number };
  finished_at: Date | null;
  started_at: Date | null;
  file_bytes: string | null;
};

// Marker and spend in one step: either both happen or neither.
const CHARGE_LUA = `
if redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[2]) == false then return 0 end
local amount = tonumber(ARGV[1])
if amount > 0 then
  redis.call('HINCRBY', KEYS[2], 'spent', amount)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('HINCRBY', KEYS[3], 'spent', amount)
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
return 1
`;

/** Trained tokens: the router's estimate (4 characters a token) of the training file, per epoch. */
export const trainedTokensOf = (fileBytes: number, epochs: number) =>
  Math.ceil(fileBytes / 4) * Math.max(1, epochs);

function fineTuneCost(prices: PriceTable, trainedTokens: number, gpuSeconds: number) {
  const p = prices.fineTuning;
  const tokensMicro = p ? Math.ceil(trainedTokens * p.per1kTrainedTokens * 1000 - 1e-9) : 0;
  const gpuMicro = p ? Math.ceil((gpuSeconds / 3600) * p.perGpuHour * 1_000_000 - 1e-9) : 0;
  return { tokensMicro: Math.max(0, tokensMicro), gpuMicro: Math.max(0, gpuMicro) };
}

export function createFineTuneMeter(d: FineTuneMeterDeps) {
  /**
   * Records the usage of an ended fine-tune; undefined when it has not ended or was recorded
   * already. Tokens are charged only for a fine-tune that succeeded (a failed run's progress is
   * unknown); GPU-seconds always (the GPU was held).
   */
  async function jobEnded(tenant: string, jobId: string): Promise<FineTuneUsage | undefined> {
    const { rows } = await d.pool.query<EndedRow>(
      `SELECT j.status, j.model, j.fine_tuned_model, j.error, j.hyperparameters, j.finished_at,
              (SELECT min(e.created_at) FROM fine_tune_events e
                 WHERE e.tenant = j.tenant AND e.job_id = j.id AND e.message = 'Fine-tuning job started')
                AS started_at,
              f.bytes AS file_bytes
       FROM fine_tune_jobs j LEFT JOIN files f ON f.tenant = j.tenant AND f.id = j.training_file
       WHERE j.tenant = $1 AND j.id = $2`,
      [tenant, jobId],
    );
    const r = rows[0];
    if (!r || (r.status !== "succeeded" && r.status !== "failed" && r.status !== "cancelled")) return;
    const status = r.status;
    const ended = r.finished_at?.getTime() ?? Date.now();
    const wallMs = r.started_at ? Math.max(0, ended - r.started_at.getTime()) : 0;
    const gpuSeconds = (wallMs / 1000) * d.gpusPerJob;
    const trainedTokens =
      status === "succeeded"
        ? trainedTokensOf(Number(r.file_bytes ?? 0), r.hyperparameters.n_epochs ?? 1)
        : 0;
    const cost = fineTuneCost(d.prices, trainedTokens, gpuSeconds);
    const costMicro = cost.tokensMicro + cost.gpuMicro;

    const per = periodsAt(ended);
    const b = budgetKeys(d.keys, tenant, per);
    const marker = `${d.keys.tenant(tenant)}:ftm:${jobId}`;
    const charged = await d.redis.eval(
      CHARGE_LUA,
      3,
      marker,
      b.day,
      b.month,
      String(costMicro),
      String(MONTH_KEEP_MS),
      String(DAY_KEEP_MS),
      String(MONTH_KEEP_MS),
    );
    if (charged !== 1) return;

    const t = d.tenant(tenant);
    const reason =
      status === "failed" ? `fine_tune_failed:${r.error?.code ?? "unknown"}` : `fine_tune_${status}`;
    const event: UsageEvent = {
      id: uuidv7(ended),
      ts: new Date(ended).toISOString(),
      requestId: jobId,
      tenant,
      keyId: "",
      endUser: "",
      feature: "",
      endpoint: FINE_TUNE_ENDPOINT,
      model: r.fine_tuned_model ?? r.model,
      baseModel: r.model,
      adapter: r.fine_tuned_model ?? "",
      adapterVersion: r.fine_tuned_model ? ADAPTER_VERSION : 0,
      replica: "",
      promptTokens: trainedTokens,
      completionTokens: 0,
      // Trained tokens' cost as input, GPU time's cost as output: the Costs API sums both.
      inputCostMicro: cost.tokensMicro,
      outputCostMicro: cost.gpuMicro,
      ttftMs: null,
      durationMs: wallMs,
      status: status === "succeeded" ? "ok" : status,
      httpStatus: status === "succeeded" ? 200 : status === "failed" ? 500 : 499,
      reason,
      stream: false,
      gpuSeconds,
    };
    d.spool.append({
      ...event,
      audit: {
        policyHash: t ? policyHash(t) : "",
        mode: "none",
        prompt: null,
        response: null,
        promptSha256: null,
        responseSha256: null,
      },
    });
    d.logger.info({ tenant, jobId, status, trainedTokens, gpuSeconds, costMicro }, "fine-tune metered");
    return { status, trainedTokens, gpuSeconds, costMicro };
  }

  return { jobEnded };
}
export type FineTuneMeter = ReturnType<typeof createFineTuneMeter>;

/**
 * The trainer's meter when metering is configured (the router's LORAPLEX_METERING_CONFIG /
 * LORAPLEX_PRICES*), with the router's Redis key prefix for the schema, so its events land in
 * the same spool the router's writers drain; undefined otherwise (nothing is metered).
 */
export function startFineTuneMetering(o: {
  pool: pg.Pool;
  cfg: ServiceConfig;
  schema?: string;
  gpusPerJob: number;
  tenant(name: string): Tenant | undefined;
  logger: Logger;
}): { meter: FineTuneMeter; close(): Promise<void> } | undefined {
  if (!meteringConfigured()) return undefined;
  const config = loadMeteringConfig();
  const redis = createRedis(o.cfg);
  const keys = createKeySpace({ schema: o.schema, prefix: config.keyPrefix });
  const store = createUsageStore(o.pool);
  const log = o.logger.child({ component: "metering" });
  const spool = createSpool({
    redis,
    stream: keys.spool(),
    log,
    fallback: async (rows) => void (await store.write(rows)),
  });
  const meter = createFineTuneMeter({ ...o, redis, keys, prices: config.prices, spool });
  return {
    meter,
    async close() {
      await spool.close();
      redis.disconnect();
    },
  };
}
