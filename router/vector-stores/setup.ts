// The vector store API in a running router: the stores, their files and batches, search, and
// the ingestion worker.
//
// Why the ingestion worker runs in the router process (not the trainer): embeddings must go
// through the tenant's own pool on the router's upstream path — its replica discovery, health
// and load accounting, adapter loading, engine credentials and cache salt — and be metered
// through the router's spool. The router already has all of these; the trainer has none of them
// and would need a second copy of discovery. Ingestion is I/O-bound (S3, the engine,
// Postgres), runs off the request path with a small concurrency per router, and scales with the
// router replicas; BullMQ shares the queue between them and retries a task a dead router held.
// LORAPLEX_RETRIEVAL_WORKERS=0 turns the worker off in a router (e.g. on latency-critical replicas);
// LORAPLEX_RETRIEVAL_ATTEMPTS (4) and LORAPLEX_RETRIEVAL_BACKOFF_MS (2000, doubling) tune retries;
// LORAPLEX_RETRIEVAL_EXACT_LIMIT (20000) is the store size up to which searches are exact.
import type pg from "pg";
import type { ServiceConfig } from "../../core/config.ts";
import type { Logger } from "../../core/log.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import { createS3Client } from "../../core/s3.ts";
import type { Tenant } from "../../core/tenant.ts";
import { createIngestQueue, startIngestWorker } from "../../retrieval/queue.ts";
import { createStoreFiles } from "../../retrieval/store-files.ts";
import { createVectorStores } from "../../retrieval/stores.ts";
import type { RetrievalMeter } from "../../retrieval/usage.ts";
import type { RouterDeps } from "../handlers/deps.ts";
import type { VectorStoreApiDeps } from "./deps.ts";
import { createEmbedder } from "./embedder.ts";
import { createStoreFilesApi } from "./files-api.ts";
import type { Authenticate } from "./http.ts";
import { createStoreSearch } from "./run-search.ts";
import { createSearchApi } from "./search-api.ts";
import { createStoresApi } from "./stores-api.ts";

export function startVectorStores(o: {
  pool: pg.Pool;
  cfg: ServiceConfig;
  schema?: string;
  router: Pick<RouterDeps, "resolveModel" | "pools" | "upstreams" | "poolRefFor" | "cacheSalt">;
  tenant(name: string): Tenant | undefined;
  authenticate: Authenticate;
  meter: RetrievalMeter;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}) {
  const env = o.env ?? process.env;
  const log = o.logger.child({ component: "retrieval" });
  const embed = createEmbedder(o.router);
  // Under the install's Redis key prefix (loraplex:<schema>:), like every other key.
  const prefix = createKeySpace({ schema: o.schema }).retrievalQueuePrefix();
  const queueOpts = {
    redisUrl: o.cfg.REDIS_URL,
    prefix,
    logger: log,
    attempts: numberFrom(env, "LORAPLEX_RETRIEVAL_ATTEMPTS", 4) || 1,
    backoffMs: numberFrom(env, "LORAPLEX_RETRIEVAL_BACKOFF_MS", 2_000),
  };
  const queue = createIngestQueue(queueOpts);
  const s3 = createS3Client(o.cfg);
  const workers = numberFrom(env, "LORAPLEX_RETRIEVAL_WORKERS", 2);
  const worker =
    workers > 0
      ? startIngestWorker({
          ...queueOpts,
          concurrency: workers,
          deps: {
            pool: o.pool,
            s3,
            bucket: o.cfg.S3_BUCKET,
            embed: async (name, inputs) => {
              const tenant = o.tenant(name);
              if (!tenant) throw new Error(`tenant '${name}' is not configured any more`);
              const model = tenant.spec.retrieval?.embeddingModel ?? "";
              const startedAt = Date.now();
              const t0 = performance.now();
              const call = { tenant, keyId: "", requestId: `vse-${crypto.randomUUID()}`, model, startedAt };
              try {
                o.meter.checkPriced(tenant, model);
                const r = await embed(tenant, inputs, call.requestId);
                o.meter.embedded({
                  ...call,
                  tokens: r.tokens,
                  durationMs: performance.now() - t0,
                  ok: true,
                  httpStatus: 200,
                });
                return r;
              } catch (err) {
                const httpStatus = (err as { status?: number }).status ?? 500;
                const reason = (err as Error).message;
                o.meter.embedded({
                  ...call,
                  tokens: 0,
                  durationMs: performance.now() - t0,
                  ok: false,
                  httpStatus,
                  reason,
                });
                throw err;
              }
            },
          },
        })
      : undefined;
  const deps: VectorStoreApiDeps = {
    pool: o.pool,
    authenticate: o.authenticate,
    stores: createVectorStores(o.pool),
    files: createStoreFiles(o.pool),
    queue,
    embed,
    meter: o.meter,
    searchOptions: { exactLimit: numberFrom(env, "LORAPLEX_RETRIEVAL_EXACT_LIMIT", 20_000) },
  };
  const search = createStoreSearch(deps);
  return {
    routers: [
      createStoresApi(deps),
      createStoreFilesApi(deps),
      createSearchApi({ authenticate: o.authenticate, search }),
    ],
    /** Metered search over the caller's stores (the Responses API's file_search tool uses it). */
    search,
    async close() {
      await worker?.close();
      await queue.close();
      s3.destroy();
    },
  };
}

function numberFrom(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`${name} must be a non-negative integer, not '${v}'`);
  return n;
}
