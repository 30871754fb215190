// Everything metering needs in a running router, assembled from the router's own Postgres pool,
// Redis connection, tenants and authenticator: the admit/settle hooks, the spool and its writer,
// the audit retention job, and the HTTP routes (usage API, audit, dashboard, admin costs).
import type { Router } from "express";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { Registry } from "prom-client";
import type { Logger } from "../../core/log.ts";
import { createKeySpace, type KeySpace } from "../../core/redis-keys.ts";
import type { Tenant } from "../../core/tenant.ts";
import { createAlertSink } from "../../metering/alerts.ts";
import { startAuditRetention } from "../../metering/audit.ts";
import type { MeteringConfig } from "../../metering/config.ts";
import { type ErasureCounts, eraseTenantData } from "../../metering/erasure.ts";
import { createMeteringMetrics } from "../../metering/metrics.ts";
import { createSpool } from "../../metering/spool.ts";
import { createUsageStore } from "../../metering/usage-store.ts";
import { createUsageWriter } from "../../metering/usage-writer.ts";
import { createRetrievalMeter, type RetrievalMeter } from "../../retrieval/usage.ts";
import { createAdminCostsRouter } from "./admin-costs.ts";
import type { Caller } from "./api-route.ts";
import { createDashboardRouter } from "./dashboard/routes.ts";
import { createMeteringHooks, type MeteringHooks } from "./hooks.ts";
import { createUsageRouter } from "./usage-api.ts";

export type MeteringInfra = {
  pool: pg.Pool;
  redis: Redis;
  logger: Logger;
  /** The router's Postgres schema; it also separates Redis keys of installs sharing a Redis. */
  schema?: string;
  registry?: Registry;
  tenants: () => readonly Tenant[];
  authenticate(authorization: string | undefined, source?: string): Promise<Caller>;
  adminToken: string;
  config: MeteringConfig;
};

export type Metering = {
  hooks: MeteringHooks;
  routers: Router[];
  keys: KeySpace;
  /** Usage events of vector store searches and ingestion embedding batches. */
  retrieval: RetrievalMeter;
  erase(tenant: string): Promise<ErasureCounts>;
  close(): Promise<void>;
};

export function startMetering(infra: MeteringInfra): Metering {
  const { pool, redis, config } = infra;
  const log = infra.logger.child({ component: "metering" });
  const keys = createKeySpace({ schema: infra.schema, prefix: config.keyPrefix });
  const metrics = infra.registry ? createMeteringMetrics(infra.registry) : undefined;
  const store = createUsageStore(pool);
  const spool = createSpool({
    redis,
    stream: keys.spool(),
    log,
    metrics,
    fallback: async (rows) => void (await store.write(rows)),
  });
  const alerts = createAlertSink({ log, metrics, webhookSecret: config.webhookSecret });
  const hooks = createMeteringHooks({
    redis,
    keys,
    prices: config.prices,
    spool,
    log,
    metrics,
    alerts,
    leaseMs: config.leaseMs,
    redisTimeoutMs: config.redisTimeoutMs,
  });
  // Batches commit in parallel on several Postgres backends; the consumer group keeps them apart.
  const writers = Array.from({ length: config.writerConcurrency ?? 2 }, () =>
    createUsageWriter({
      redis,
      stream: keys.spool(),
      store,
      log,
      metrics,
      batchSize: config.writerBatchSize,
      lingerMs: config.writerLingerMs,
    }),
  );
  for (const w of writers) w.start();
  const retention = startAuditRetention({
    pool,
    tenants: infra.tenants,
    log,
    intervalMs: config.auditRetentionIntervalMs,
  });
  for (const t of infra.tenants()) {
    const l = t.spec.limits;
    if (l?.dailySpendUSD !== undefined) metrics?.cap(t.metadata.name, "daily", l.dailySpendUSD);
    if (l?.monthlySpendUSD !== undefined) metrics?.cap(t.metadata.name, "monthly", l.monthlySpendUSD);
  }
  const api = { pool, authenticate: infra.authenticate, storagePerGbDay: config.prices.retrieval?.perGbDay };
  return {
    hooks,
    keys,
    retrieval: createRetrievalMeter({ spool, prices: config.prices }),
    routers: [
      createUsageRouter(api),
      createDashboardRouter({ ...api, redis, keys }),
      createAdminCostsRouter({ pool, adminToken: infra.adminToken, config }),
    ],
    erase: (tenant) => eraseTenantData(pool, redis, tenant, { keys }),
    async close() {
      retention.stop();
      await hooks.idle();
      await spool.close(); // says how many events it could not hand over, if any
      await Promise.all(writers.map((w) => w.stop()));
    },
  };
}
