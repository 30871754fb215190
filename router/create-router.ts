// Assembles a running router: secrets, Postgres (migrated), Redis, tenants (directory or
// Kubernetes informer), engine pools, authentication, hooks, metrics and the HTTP server.
// `loraplex router` calls this; tests call it directly to inject their own Hooks.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { Registry } from "prom-client";
import { createKeyStore } from "../api-keys/api-keys.ts";
import { loadAdminToken, loadKeySecret } from "../api-keys/secrets.ts";
import { DEFAULT_SYSTEM_NAMESPACE, poolRefFor } from "../core/cluster-layout.ts";
import { loadServiceConfig } from "../core/config.ts";
import { createPgPool } from "../core/db.ts";
import { createLogger, type Logger } from "../core/log.ts";
import { checkSchemaName, migrate } from "../core/migrate.ts";
import { createRedis } from "../core/redis.ts";
import { createKeySpace, type KeySpace } from "../core/redis-keys.ts";
import type { Hooks } from "../core/request-context.ts";
import { loadMeteringConfig, meteringConfigured } from "../metering/config.ts";
import { unmetered } from "../retrieval/usage.ts";
import { startDirTenantSource } from "../tenants/dir-source.ts";
import { createTenantStore, type TenantStore } from "../tenants/tenant-store.ts";
import { createAdminRouter } from "./api/admin.ts";
import { createAuthenticator } from "./auth/authenticate.ts";
import { createFlowControl, type FlowControl } from "./fairness/flow-control.ts";
import { createFairnessMetrics } from "./fairness/metrics.ts";
import { DEFAULT_SYNC_MS, startCounterSync } from "./fairness/shared-counters.ts";
import { startFineTunedModels } from "./fine-tuned-models.ts";
import { createTrainingApis } from "./fine-tuning/training-apis.ts";
import { createUpstreams } from "./forward/upstreams.ts";
import { gracefulCloser } from "./graceful-close.ts";
import type { RouterDeps } from "./handlers/deps.ts";
import { prepareBody } from "./handlers/prepare-body.ts";
import { noopHooks } from "./hooks-noop.ts";
import { startMetering } from "./metering/setup.ts";
import { createRouterMetrics } from "./metrics.ts";
import { createMetricsServer } from "./metrics-server.ts";
import { createCacheSalter } from "./policy.ts";
import { resolveModel } from "./resolve-model.ts";
import { createResponsesRouter } from "./responses/routes.ts";
import { createResponseStore } from "./responses/store.ts";
import { createPools, type Pools } from "./scheduling/pools.ts";
import { createRouterServer, type Readiness } from "./server.ts";
import { startVectorStores } from "./vector-stores/setup.ts";

export type HookFactory = (infra: {
  pg: pg.Pool;
  redis: Redis;
  logger: Logger;
  schema?: string;
}) => Hooks | Promise<Hooks>;

export type RouterOptions = {
  host?: string;
  /** 0 picks a free port; the returned url carries the real one. */
  port?: number;
  /** Where /metrics listens: its own port, never the tenant-facing one (default 127.0.0.1:9464). */
  metricsHost?: string;
  metricsPort?: number;
  /** Local mode: a directory of Tenant YAML documents, reloaded on change. */
  tenantsDir?: string;
  /** Cluster mode: Tenants from an informer and replicas from EndpointSlices. */
  kube?: { kubeconfigPath?: string; inCluster?: boolean };
  /** Static replicas (local mode), see the --engines flag. */
  engines?: string;
  systemNamespace?: string;
  /** Postgres schema for this router's tables (tests run one per suite); default DATABASE_SCHEMA. */
  dbSchema?: string;
  maxBodyBytes?: number;
  /** How long a request waits for a healthy replica of its pool before a 503 (default 30 s). */
  replicaWaitMs?: number;
  /** Longest time a client may take to send a whole request, body included (default 300 s). */
  requestTimeoutMs?: number;
  upstreamTimeoutMs?: number;
  healthIntervalMs?: number;
  /** Fair queuing per tenant in front of saturated pools (default on); off = first come, first served. */
  flowControl?: boolean;
  /** Each engine's batch limit (vLLM --max-num-seqs); default: learned from the engines' metrics. */
  batchLimit?: number;
  /** How often fair-share counters are exchanged with other routers through Redis (default 250). */
  fairSyncMs?: number;
  /** How often fine-tuned adapters registered by the trainer are re-read (default 2000). */
  fineTunedRefreshMs?: number;
  /**
   * Admission/settlement hooks, with any of the optional extras in core/request-context.ts. Default:
   * metering when the environment configures it, else admit everything and record nothing.
   */
  hooks?: Hooks | HookFactory;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
};

export type RunningRouter = {
  url: string;
  /** The metrics listener's base URL (GET /metrics). */
  metricsUrl: string;
  adminToken: string;
  tenants: TenantStore;
  pools: Pools;
  /**
   * Fails readiness, keeps serving for delayMs, stops taking connections, lets in-flight requests
   * finish for up to graceMs, then releases everything.
   */
  close(graceMs?: number, delayMs?: number): Promise<void>;
};

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000;
export const DEFAULT_METRICS_PORT = 9464;
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;

export async function createRouter(opts: RouterOptions): Promise<RunningRouter> {
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? createLogger("router");
  const warn = (message: string) => logger.warn(message);
  const cfg = loadServiceConfig(env);
  const dbSchema = opts.dbSchema ?? cfg.DATABASE_SCHEMA;
  const schema = dbSchema === undefined ? undefined : checkSchemaName(dbSchema);
  if (!opts.kube && opts.engines === undefined) {
    throw new Error("no engines: give --engines (local mode) or --kube (cluster mode)");
  }
  const keySecret = loadKeySecret(env, { warn });
  const adminToken = loadAdminToken(env, { warn });
  const saltSecret = env.LORAPLEX_CACHE_SALT_SECRET || keySecret;
  const systemNamespace = opts.systemNamespace ?? DEFAULT_SYSTEM_NAMESPACE;

  const cleanups: (() => Promise<unknown> | undefined)[] = [];
  const release = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  };
  try {
    const db = createPgPool(cfg, { schema });
    cleanups.push(() => db.end());
    await migrate(db, { schema, log: logger });
    // Admission, settlement and the usage spool each send a command per request: batched per
    // event-loop turn, a busy router writes to Redis a few times per turn, not three times per request.
    const redis = createRedis(cfg, { autoPipelining: true });
    cleanups.push(() => redis.quit());
    const redisKeys = createKeySpace({ schema });
    const tenants = await startTenants(opts, logger);
    cleanups.push(() => tenants.close());
    const pools = await createPools({
      static: opts.kube ? undefined : opts.engines,
      kube: opts.kube,
      systemNamespace,
      healthIntervalMs: opts.healthIntervalMs,
      batchLimit: opts.batchLimit,
      redis,
      keys: redisKeys,
      logger,
    });
    cleanups.push(() => pools.close());
    // Discover every tenant's pool ahead of its first request (cluster mode finds them lazily).
    const watchPools = () => {
      for (const t of tenants.store.list()) {
        pools.watch(poolRefFor(t, systemNamespace)).catch((err: Error) => {
          logger.warn({ tenant: t.metadata.name, err: err.message }, "cannot watch the tenant's pool");
        });
      }
    };
    watchPools();
    // Tenants added later (a router started before any Tenant existed) get their pool watched too.
    const stopWatchingTenants = tenants.store.onChange(watchPools);
    cleanups.push(async () => stopWatchingTenants());

    const channel = redisKeys.keyRevocations();
    const keys = createKeyStore({ pool: db, secret: keySecret, redis, channel });
    const auth = createAuthenticator({ keys, tenants: tenants.store, redis, channel, log: logger });
    cleanups.push(() => auth.close());
    const upstreams = createUpstreams({
      timeoutMs: opts.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      engineApiKey: env.LORAPLEX_ENGINE_API_KEY || undefined,
      activeIds: () => pools.replicas().map((r) => r.engineUrl),
    });
    cleanups.push(() => upstreams.close());
    const metrics = createRouterMetrics(() => pools.replicas());
    const flow =
      opts.flowControl === false
        ? undefined
        : startFlowControl(pools, redis, redisKeys, metrics.registry, opts, logger);
    if (flow) cleanups.push(() => flow.close());
    // Metering (limits, caps, usage, audit, usage API, dashboard) runs when a price table is
    // configured (LORAPLEX_METERING_CONFIG / LORAPLEX_PRICES_FILE / LORAPLEX_PRICES).
    const metering =
      opts.hooks === undefined && meteringConfigured(env)
        ? startMetering({
            pool: db,
            redis,
            logger,
            schema,
            registry: metrics.registry,
            tenants: () => tenants.store.list(),
            authenticate: (header, source) => auth.authenticate(header, source),
            adminToken,
            config: loadMeteringConfig(env),
          })
        : undefined;
    if (metering) cleanups.push(() => metering.close());
    const hooks: Hooks =
      typeof opts.hooks === "function"
        ? await opts.hooks({ pg: db, redis, logger, schema })
        : (opts.hooks ?? metering?.hooks ?? noopHooks);

    const fineTuned = await startFineTunedModels({
      pool: db,
      intervalMs: opts.fineTunedRefreshMs ?? 2_000,
      logger,
    });
    cleanups.push(async () => fineTuned.close());
    const salt = createCacheSalter(saltSecret);
    const knownModels = () => tenants.store.baseModels();
    const deps: RouterDeps = {
      authenticate: (header, source) => auth.authenticate(header, source),
      resolveModel: (tenant, model) => resolveModel(tenant, model, knownModels(), fineTuned.table(tenant)),
      listModels: (tenant) => fineTuned.list(tenant),
      prepareBody,
      cacheSalt: (tenant) => salt(tenant.metadata.name),
      poolRefFor: (tenant) => poolRefFor(tenant, systemNamespace),
      pools,
      flow: flow?.control,
      upstreams,
      hooks,
      metrics,
      logger,
      maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      replicaWaitMs: opts.replicaWaitMs,
    };

    // `everyPool` (GET /readyz?pools=all, for scripts such as make demo): every known pool has a
    // healthy replica, not just one of them; the plain probe stays per router, not per tenant.
    const readiness = (everyPool = false): Readiness => {
      const reasons: string[] = [];
      if (shutdown.draining()) reasons.push("shutting down");
      if (!tenants.synced()) reasons.push("tenants not loaded yet");
      const replicas = pools.replicas();
      if (!replicas.some((r) => r.healthy)) reasons.push("no healthy engine replica");
      if (everyPool) {
        const healthy = new Set(replicas.filter((r) => r.healthy).map((r) => r.poolRef));
        for (const ref of new Set(replicas.map((r) => r.poolRef))) {
          if (!healthy.has(ref)) reasons.push(`no healthy replica in pool ${ref}`);
        }
      }
      return { ready: reasons.length === 0, reasons };
    };
    // The files and fine-tuning APIs (tenant key); the trainer runs the jobs they queue.
    const training = createTrainingApis({
      pool: db,
      cfg,
      env,
      authenticate: (h, source) => auth.authenticate(h, source),
      onUpload: (tenant, status, ms) => metrics.request(tenant, "(files)", status, ms, false),
    });
    cleanups.push(() => training.close());
    // Vector stores (tenant key); this router also runs their ingestion worker (see setup.ts).
    const retrieval = startVectorStores({
      pool: db,
      cfg,
      schema,
      router: deps,
      tenant: (name) => tenants.store.get(name),
      authenticate: (h) => auth.authenticate(h),
      meter: metering?.retrieval ?? unmetered,
      logger,
      env,
    });
    cleanups.push(() => retrieval.close());
    // The Responses API: stored responses, and file_search over the same metered search.
    const responseStore = createResponseStore(db);
    deps.responses = { store: responseStore, search: retrieval.search };
    const server = createRouterServer({
      deps,
      readiness,
      requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      routers: [
        createAdminRouter({ keys, tenants: tenants.store, adminToken, log: logger }),
        ...(metering?.routers ?? []),
        ...training.routers,
        ...retrieval.routers,
        createResponsesRouter({ authenticate: (h) => auth.authenticate(h), store: responseStore }),
      ],
    });
    const metricsServer = createMetricsServer({
      registry: metrics.registry,
      token: env.LORAPLEX_METRICS_TOKEN || undefined,
    });
    const metricsUrl = await listen(
      metricsServer,
      opts.metricsPort ?? DEFAULT_METRICS_PORT,
      opts.metricsHost ?? opts.host ?? "127.0.0.1",
    );
    cleanups.push(() => new Promise<void>((resolve) => metricsServer.close(() => resolve())));
    const shutdown = gracefulCloser(server);
    const url = await listen(server, opts.port ?? 8080, opts.host ?? "127.0.0.1");
    logger.info(
      { url, metricsUrl, schema, systemNamespace, mode: opts.kube ? "kube" : "local" },
      "router listening",
    );

    let closing: Promise<void> | undefined;
    const close = (graceMs = 10_000, delayMs = 0) => {
      closing ??= (async () => {
        await shutdown.close(graceMs, delayMs);
        await release();
        logger.info("router stopped");
      })();
      return closing;
    };
    return { url, metricsUrl, adminToken, tenants: tenants.store, pools, close };
  } catch (err) {
    await release();
    throw err;
  }
}

/** Fair queues, their metrics and the counters shared with other routers through Redis. */
function startFlowControl(
  pools: Pools,
  redis: Redis,
  keys: KeySpace,
  registry: Registry,
  opts: RouterOptions,
  logger: Logger,
): { control: FlowControl; close(): Promise<void> } {
  const holder: { control?: FlowControl } = {};
  const all = () => holder.control?.pools() ?? [];
  const control = createFlowControl({
    replicas: (ref) => pools.poolReplicas(ref),
    metrics: createFairnessMetrics(registry, all),
  });
  holder.control = control;
  const sync = startCounterSync({
    redis,
    // Routers of one installation share counters; test suites (own schema) do not.
    key: (poolRef) => keys.fairCounters(poolRef),
    intervalMs: opts.fairSyncMs ?? DEFAULT_SYNC_MS,
    pools: all,
    logger,
  });
  return {
    control,
    async close() {
      control.close();
      await sync.stop();
    },
  };
}

export const DEFAULT_TENANTS_DIR = "manifests/samples";

/** Listens and returns the base URL with the real port. */
async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return `http://${h}:${addr.port}`;
}

/** Tenants from the Kubernetes API in cluster mode, else from the local directory. */
async function startTenants(
  opts: RouterOptions,
  logger: Logger,
): Promise<{ store: TenantStore; synced(): boolean; close(): Promise<void> }> {
  const store = createTenantStore({ log: logger });
  if (opts.kube) {
    // Imported here, not at the top: the Kubernetes client takes about a second to load, which a
    // router in local mode (dev, demos, every integration test's router) would pay at each start.
    const [{ loadKubeConfig }, { startK8sTenantSource }] = await Promise.all([
      import("../kube/config.ts"),
      import("../tenants/k8s-source.ts"),
    ]);
    const source = await startK8sTenantSource({ kubeConfig: loadKubeConfig(opts.kube), store, log: logger });
    return { store, synced: () => source.isSynced(), close: () => source.close() };
  }
  const source = await startDirTenantSource({
    dir: opts.tenantsDir ?? DEFAULT_TENANTS_DIR,
    store,
    log: logger,
  });
  return { store, synced: () => true, close: () => source.close() };
}
