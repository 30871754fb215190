// `loraplex trainer`: the fine-tuning worker. Dispatches waiting fine-tunes fairly (queue.ts),
// runs each as a Kubernetes Job (executor-k8s.ts), or in local mode as a child process
// (executor-local.ts), and registers the trained adapter so routers serve it. Several replicas may run: dispatch is serialised in Postgres, tasks in BullMQ.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { loadServiceConfig } from "../core/config.ts";
import { createPgPool } from "../core/db.ts";
import { intFlag } from "../core/flags.ts";
import { createLogger } from "../core/log.ts";
import { checkSchemaName, migrate } from "../core/migrate.ts";
import { createS3Client } from "../core/s3.ts";
import { createJobsStore } from "../fine-tuning/jobs-store.ts";
import { createKubeClient } from "../kube/client.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { startDirTenantSource } from "../tenants/dir-source.ts";
import { startK8sTenantSource } from "../tenants/k8s-source.ts";
import { createTenantStore } from "../tenants/tenant-store.ts";
import { createK8sExecutor, type Executor } from "./executor-k8s.ts";
import { createLocalExecutor, DEFAULT_TRAINER_PYTHON } from "./executor-local.ts";
import { startFineTuneMetering } from "./metering.ts";
import { createPodLogReader } from "./pod-log.ts";
import { createDispatcher } from "./queue.ts";
import { startTrainerWorker } from "./worker.ts";

const USAGE = `usage: loraplex trainer [options]

  --executor kubernetes|local     where fine-tunes train (default kubernetes); local runs
                                  trainer/image/train.py here, with --python, and needs --tenants-dir
  --python PATH                   local executor: the training venv's python
                                  (default .tools/trainer-venv/bin/python, from scripts/trainer-env.sh)
  --base-models-dir DIR           local executor: base model weights in DIR/<model name>
  --kubeconfig PATH               cluster the training Jobs run in (default: in-cluster, else $KUBECONFIG)
  --tenants-dir DIR               Tenants from a YAML directory (default: Tenant resources in the cluster)
  --db-schema NAME                Postgres schema (env DATABASE_SCHEMA); the router's, to share its jobs
  --bull-prefix P                 BullMQ key prefix (default bull)
  --capacity N                    fine-tunes running at once across all tenants (default 4)
  --training-namespace NS         namespace of shared-tier tenants' Jobs (default loraplex-training)
  --image REF                     training image (default loraplex/trainer:latest)
  --gpus N                        nvidia.com/gpu per Job (default 1; 0 requests none)
  --training-simulator            Jobs run \`loraplex train-sim\` (the training SIMULATOR: no GPU, nothing
                                  learned, a valid adapter) instead of the training image; --image must
                                  then be the Loraplex image; no GPU is requested or metered
  --node-selector K=V,...         node placement of training pods
  --active-deadline-seconds N     a Job running longer fails (default 86400)
  --ttl-seconds-after-finished N  how long finished Jobs are kept (default 86400)
  --s3-secret-prefix P            per-tenant S3 credentials Secret: <P><tenant> (default loraplex-s3-)
  --poll-ms N                     how often a running Job is checked (default 5000)
  --dispatch-interval-ms N        how often waiting fine-tunes are dispatched (default 2000)
  --lock-duration-ms N            how soon a dead trainer's fine-tune is taken over (default 30000)
  --port N                        /healthz and /readyz (default 8090; 0 picks a free one)
  --health-host ADDR              their listen address (default 0.0.0.0: the kubelet probes the Pod IP)

environment: DATABASE_URL, REDIS_URL, S3_ENDPOINT, S3_BUCKET and S3 credentials, LOG_LEVEL;
  LORAPLEX_METERING_CONFIG / LORAPLEX_PRICES(_FILE) as the router's: fine-tunes are metered`;

function parse(args: string[]) {
  // The one boolean flag; every other option takes a value.
  const simulator = args.includes("--training-simulator");
  const argv = args.filter((a) => a !== "--training-simulator");
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: Object.fromEntries(
      [
        "executor",
        "python",
        "base-models-dir",
        "kubeconfig",
        "tenants-dir",
        "db-schema",
        "bull-prefix",
        "capacity",
        "training-namespace",
        "image",
        "gpus",
        "node-selector",
        "active-deadline-seconds",
        "ttl-seconds-after-finished",
        "s3-secret-prefix",
        "poll-ms",
        "dispatch-interval-ms",
        "lock-duration-ms",
        "port",
        "health-host",
      ].map((k) => [k, { type: "string" as const }]),
    ),
  });
  const nodeSelector: Record<string, string> = {};
  for (const pair of (v["node-selector"] ?? "").split(",").filter(Boolean)) {
    const [k, val] = pair.split("=");
    if (!k || val === undefined) throw new Error(`--node-selector: '${pair}' is not KEY=VALUE`);
    nodeSelector[k] = val;
  }
  const executor = v.executor ?? "kubernetes";
  if (executor !== "kubernetes" && executor !== "local")
    throw new Error(`--executor must be 'kubernetes' or 'local', got '${executor}'`);
  if (executor === "local" && !v["tenants-dir"]) throw new Error("--executor local needs --tenants-dir");
  return {
    executor,
    python: v.python ?? DEFAULT_TRAINER_PYTHON,
    baseModelsDir: v["base-models-dir"],
    kubeconfig: v.kubeconfig ?? process.env.KUBECONFIG,
    tenantsDir: v["tenants-dir"],
    schema: v["db-schema"],
    prefix: v["bull-prefix"],
    capacity: intFlag("--capacity", v.capacity, { min: 1 }) ?? 4,
    trainingNamespace: v["training-namespace"] ?? "loraplex-training",
    image: v.image ?? "loraplex/trainer:latest",
    simulator,
    // The simulator uses no GPU: requesting one would only keep it from scheduling.
    gpus: simulator ? 0 : (intFlag("--gpus", v.gpus) ?? 1),
    nodeSelector,
    activeDeadlineSeconds:
      intFlag("--active-deadline-seconds", v["active-deadline-seconds"], { min: 1 }) ?? 86_400,
    ttl: intFlag("--ttl-seconds-after-finished", v["ttl-seconds-after-finished"]) ?? 86_400,
    secretPrefix: v["s3-secret-prefix"] ?? "loraplex-s3-",
    pollMs: intFlag("--poll-ms", v["poll-ms"], { min: 10 }) ?? 5_000,
    dispatchMs: intFlag("--dispatch-interval-ms", v["dispatch-interval-ms"], { min: 10 }) ?? 2_000,
    lockMs: intFlag("--lock-duration-ms", v["lock-duration-ms"], { min: 500 }) ?? 30_000,
    port: intFlag("--port", v.port, { max: 65_535 }) ?? 8_090,
    healthHost: v["health-host"] ?? "0.0.0.0",
  };
}

async function runTrainer(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  let f: ReturnType<typeof parse>;
  try {
    f = parse(argv);
  } catch (err) {
    console.error(`loraplex trainer: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const logger = createLogger("trainer");
  const cfg = loadServiceConfig();
  const cleanups: (() => Promise<unknown>)[] = [];
  const release = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const rawSchema = f.schema ?? cfg.DATABASE_SCHEMA;
    const schema = rawSchema === undefined ? undefined : checkSchemaName(rawSchema);
    const pool = createPgPool(cfg, { schema });
    cleanups.push(() => pool.end());
    await migrate(pool, { schema, log: logger });
    const store = createTenantStore({ log: logger });
    // Local mode touches no cluster: tenants come from --tenants-dir (checked in parse()).
    const kc = f.executor === "kubernetes" ? loadKubeConfig({ kubeconfigPath: f.kubeconfig }) : undefined;
    const source = f.tenantsDir
      ? await startDirTenantSource({ dir: f.tenantsDir, store, log: logger })
      : await startK8sTenantSource({ kubeConfig: kc!, store, log: logger });
    cleanups.push(() => source.close());
    const jobs = createJobsStore(pool);
    const dispatcher = createDispatcher({
      pool,
      redisUrl: cfg.REDIS_URL,
      prefix: f.prefix,
      capacity: f.capacity,
      tenant: (n) => store.get(n),
    });
    cleanups.push(() => dispatcher.close());
    let wake = () => {};
    let executor: Executor;
    if (f.executor === "local") {
      executor = createLocalExecutor({
        pool,
        jobs,
        s3: createS3Client(cfg),
        cfg,
        python: f.python,
        baseModelsDir: f.baseModelsDir,
        tenant: (n) => store.get(n),
        pollMs: f.pollMs,
        logger,
        onFinished: () => wake(),
      });
    } else {
      const kube = createKubeClient(kc!, { fieldManager: "loraplex-trainer" });
      executor = createK8sExecutor({
        kube,
        pool,
        jobs,
        s3: createS3Client(cfg),
        placement: {
          image: f.image,
          simulator: f.simulator,
          trainingNamespace: f.trainingNamespace,
          gpus: f.gpus,
          nodeSelector: f.nodeSelector,
          activeDeadlineSeconds: f.activeDeadlineSeconds,
          ttlSecondsAfterFinished: f.ttl,
          bucket: cfg.S3_BUCKET,
          s3SecretName: (tenant) => `${f.secretPrefix}${tenant}`,
        },
        tenant: (n) => store.get(n),
        podLog: createPodLogReader(kc!, logger),
        pollMs: f.pollMs,
        logger,
        onFinished: () => wake(),
      });
    }
    // Local training holds no GPU the cluster accounts for: 0 GPU-seconds (see README).
    const metering = startFineTuneMetering({
      pool,
      cfg,
      schema,
      gpusPerJob: f.executor === "local" ? 0 : f.gpus,
      tenant: (n) => store.get(n),
      logger,
    });
    if (metering) cleanups.push(() => metering.close());
    const worker = startTrainerWorker({
      dispatcher,
      executor,
      jobs,
      redisUrl: cfg.REDIS_URL,
      prefix: f.prefix,
      concurrency: f.capacity,
      dispatchIntervalMs: f.dispatchMs,
      lockDurationMs: f.lockMs,
      logger,
      onEnded: metering && ((t) => metering.meter.jobEnded(t.tenant, t.jobId)),
    });
    wake = worker.wake;
    cleanups.push(() => worker.close());
    const server = createServer((req, res) => {
      const ok = req.url === "/healthz" || req.url === "/readyz";
      res.writeHead(ok ? 200 : 404, { "content-type": "text/plain" }).end(ok ? "ok\n" : "not found\n");
    });
    await new Promise<void>((resolve) => server.listen(f.port, f.healthHost, resolve));
    cleanups.push(() => new Promise((r) => server.close(r)));
    logger.info({ port: f.port, capacity: f.capacity, schema, executor: f.executor }, "trainer running");
    await new Promise<void>((resolve) => {
      process.once("SIGTERM", () => resolve());
      process.once("SIGINT", () => resolve());
    });
    logger.info("trainer stopping");
    await release();
    return 0;
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, "trainer failed");
    await release();
    return 1;
  }
}

export const trainerCommand = {
  summary: "fine-tuning worker: fair queue → Kubernetes Jobs → adapters",
  run: runTrainer,
};
