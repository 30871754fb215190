// `loraplex controller`: wires the options, the API client, erasure, the health server and
// leader election together. Only the Lease holder starts caches and reconciles; a leader that
// loses the Lease exits (its Deployment restarts it as a standby) instead of risking two writers.
import { loadServiceConfig } from "../core/config.ts";
import { createPgPool } from "../core/db.ts";
import { createLogger } from "../core/log.ts";
import { migrate } from "../core/migrate.ts";
import { createRedis } from "../core/redis.ts";
import { createKeySpace } from "../core/redis-keys.ts";
import { createS3Client } from "../core/s3.ts";
import { createKubeClient } from "../kube/client.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { eraseTenantData } from "../metering/erasure.ts";
import { startHealthServer } from "./health.ts";
import { createLeaderElector, validateLeaderTimings } from "./leader-election.ts";
import { runManager } from "./manager.ts";
import { createControllerMetrics } from "./metrics.ts";
import { CONTROLLER_USAGE, type ControllerOptions, parseControllerOptions } from "./options.ts";
import { createTenantEraser } from "./tenant/erasure.ts";
import { createEventRecorder } from "./tenant/events.ts";

export const controllerCommand = {
  summary: "run the Kubernetes controller (Tenant and ModelPool reconcilers)",
  async run(argv: string[]): Promise<number> {
    let opts: ControllerOptions | "help";
    const env = loadServiceConfig();
    try {
      opts = parseControllerOptions(argv, env);
      if (opts !== "help" && opts.leaderElect) validateLeaderTimings(opts);
    } catch (err) {
      console.error(`loraplex controller: ${(err as Error).message}\n\n${CONTROLLER_USAGE}`);
      return 2;
    }
    if (opts === "help") {
      console.log(CONTROLLER_USAGE);
      return 0;
    }
    return runController(opts, env);
  },
};

async function runController(
  opts: ControllerOptions,
  env: ReturnType<typeof loadServiceConfig>,
): Promise<number> {
  const log = createLogger("controller", env.LOG_LEVEL);
  const metrics = createControllerMetrics();
  const client = createKubeClient(loadKubeConfig({ kubeconfigPath: opts.kubeconfig }), {
    observe: metrics.observeRequest,
  });
  const schema = env.DATABASE_SCHEMA;
  const pg = createPgPool(env, { max: 2, schema });
  // Erasure deletes from every tenant table, so they must exist even where no router has run yet.
  await migrate(pg, { schema, log });
  const redis = createRedis(env);
  const keys = createKeySpace({ schema });
  const s3 = createS3Client(env);
  const eraser = createTenantEraser({
    client,
    systemNamespace: opts.config.systemNamespace,
    s3,
    eraseTenantRows: async (tenant) => ({ ...(await eraseTenantData(pg, redis, tenant, { keys })) }),
  });
  const events = createEventRecorder(client, opts.config.identity, log);

  const stop = new AbortController();
  let leading = false;
  let synced = false;
  const health = await startHealthServer({
    host: opts.healthHost,
    port: opts.healthPort,
    registry: metrics.registry,
    // A standby is ready: it is doing its job, which is to wait for the Lease.
    state: () => ({ ready: opts.leaderElect ? !leading || synced : synced, leader: leading, synced }),
  });
  log.info({ port: health.port, identity: opts.config.identity }, "controller started");
  const onSignal = () => stop.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);

  let exitCode = 0;
  try {
    const startManager = async () => {
      const m = await runManager(
        {
          client,
          config: opts.config,
          tenantSelector: opts.tenantSelector,
          workers: opts.workers,
          eraser,
          events,
          metrics,
          log,
        },
        stop.signal,
      );
      await m.synced;
      synced = true;
    };
    if (!opts.leaderElect) {
      leading = true;
      metrics.leader.set(1);
      await startManager();
      await new Promise<void>((resolve) =>
        stop.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
    } else {
      const elector = createLeaderElector({
        client,
        namespace: opts.leaseNamespace,
        name: opts.leaseName,
        identity: opts.config.identity,
        leaseDurationMs: opts.leaseDurationMs,
        renewDeadlineMs: opts.renewDeadlineMs,
        retryPeriodMs: opts.retryPeriodMs,
        log,
      });
      if (await elector.acquire(stop.signal)) {
        leading = true;
        metrics.leader.set(1);
        const held = elector.holdUntil(stop.signal);
        void startManager().catch((err: Error) => log.error({ err: err.message }, "manager failed"));
        if ((await held) === "lost") exitCode = 1;
        leading = false;
        metrics.leader.set(0);
      }
    }
  } finally {
    stop.abort();
    await health.close();
    await pg.end().catch(() => {});
    redis.disconnect();
    s3.destroy();
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
  log.info({ exitCode }, "controller stopped");
  return exitCode;
}
