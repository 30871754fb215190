// `loraplex router`: the OpenAI-compatible, tenant-aware data plane.
// Local mode reads Tenants from a directory and engines from --engines; cluster mode (--kube)
// watches Tenant resources and the pools' EndpointSlices. SIGTERM/SIGINT drain gracefully.
import { parseArgs } from "node:util";
import { pino } from "pino";
import { DEFAULT_SYSTEM_NAMESPACE } from "../core/cluster-layout.ts";
import { intFlag } from "../core/flags.ts";
import {
  createRouter,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_METRICS_PORT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_TENANTS_DIR,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  type RouterOptions,
} from "./create-router.ts";

export { createRouter, type RouterOptions, type RunningRouter } from "./create-router.ts";

const USAGE = `usage: loraplex router [options]

  --host ADDR               listen address (default 127.0.0.1)
  --port N                  listen port (default 8080; 0 picks a free one)
  --metrics-host ADDR       /metrics listen address (default: --host)
  --metrics-port N          /metrics on its own port, never the API port (default ${DEFAULT_METRICS_PORT}; 0 picks one)
  --tenants-dir DIR         local mode: Tenant YAML documents, reloaded on change (default ${DEFAULT_TENANTS_DIR})
  --engines SPEC            local mode: "<ns>/<pool>=<engineUrl>|<agentUrl>,...;<ns2>/<pool2>=..."
  --kube                    cluster mode: Tenants and engine EndpointSlices from the Kubernetes API
  --kubeconfig PATH         kubeconfig for --kube (default: in-cluster, else $KUBECONFIG)
  --system-namespace NS     namespace of shared pools (default ${DEFAULT_SYSTEM_NAMESPACE})
  --db-schema NAME          Postgres schema for the router's tables (env DATABASE_SCHEMA)
  --max-body-bytes N        largest accepted request body (default ${DEFAULT_MAX_BODY_BYTES}); larger → 413
  --replica-wait-ms N       hold a request this long for a starting/unhealthy pool before a 503 (default 30000)
  --request-timeout-ms N    time a client has to send a whole request, body included (default ${DEFAULT_REQUEST_TIMEOUT_MS}); → 408
  --upstream-timeout-ms N   engine headers / inter-chunk timeout (default ${DEFAULT_UPSTREAM_TIMEOUT_MS}); → 504
  --health-interval-ms N    engine/agent probe interval (default 2000)
  --flow-control on|off     fair queuing per tenant when a pool is saturated (default on; off = FCFS)
  --max-num-seqs N          each engine's batch limit (vLLM --max-num-seqs); default: learned from
                            the engines' metrics the first time one queues requests
  --shutdown-delay-ms N     on SIGTERM, keep serving this long with readiness failing, for
                            clients that still send here (default 0; behind a preStop hook, 0)
  --shutdown-grace-ms N     then, how long in-flight requests (streams too) may finish (default 10000)

environment: LORAPLEX_KEY_SECRET, LORAPLEX_ADMIN_TOKEN (or LORAPLEX_DEV_SECRETS=1 for local use),
  LORAPLEX_METRICS_TOKEN (scrapes of /metrics must send it as a bearer token),
  LORAPLEX_CACHE_SALT_SECRET (default: derived from the key secret), LORAPLEX_ENGINE_API_KEY,
  DATABASE_URL, REDIS_URL, LOG_LEVEL; metering (limits, spend caps, usage, audit, dashboard) is on
  when LORAPLEX_METERING_CONFIG, LORAPLEX_PRICES_FILE or LORAPLEX_PRICES gives a price table
  (LORAPLEX_ALERT_WEBHOOK_SECRET signs spend alerts)`;

export async function runRouter(argv: string[]): Promise<number> {
  let flags: ReturnType<typeof parse>;
  try {
    flags = parse(argv);
  } catch (err) {
    console.error(`loraplex router: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  // One access-log line per request: written asynchronously so a busy router coalesces lines
  // into few writes instead of one blocking write per request; flushed before exit. (Holding
  // lines back until some KiB gather was tried: operators and tests tailing the log then see a
  // request's line up to a second late, for no gain the benchmark could tell from noise.)
  const out = pino.destination({ dest: 1, sync: false });
  const logger = pino(
    { name: "router", level: process.env.LOG_LEVEL ?? "info", base: { component: "router" } },
    out,
  );
  const graceMs = flags.graceMs;
  let router: Awaited<ReturnType<typeof createRouter>>;
  try {
    router = await createRouter({ ...flags.options, logger });
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, "router failed to start");
    out.flushSync();
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal, graceMs, delayMs: flags.delayMs }, "shutting down");
      void router.close(graceMs, flags.delayMs).then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  out.flushSync();
  return 0;
}

function parse(argv: string[]): { help: boolean; graceMs: number; delayMs: number; options: RouterOptions } {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "metrics-host": { type: "string" },
      "metrics-port": { type: "string" },
      "tenants-dir": { type: "string" },
      engines: { type: "string" },
      kube: { type: "boolean" },
      kubeconfig: { type: "string" },
      "system-namespace": { type: "string" },
      "db-schema": { type: "string" },
      "max-body-bytes": { type: "string" },
      "upstream-timeout-ms": { type: "string" },
      "request-timeout-ms": { type: "string" },
      "replica-wait-ms": { type: "string" },
      "health-interval-ms": { type: "string" },
      "flow-control": { type: "string" },
      "max-num-seqs": { type: "string" },
      "shutdown-grace-ms": { type: "string" },
      "shutdown-delay-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const kubeconfigPath = v.kubeconfig ?? process.env.KUBECONFIG;
  return {
    help: v.help === true,
    graceMs: intFlag("--shutdown-grace-ms", v["shutdown-grace-ms"]) ?? 10_000,
    delayMs: intFlag("--shutdown-delay-ms", v["shutdown-delay-ms"]) ?? 0,
    options: {
      host: v.host,
      port: intFlag("--port", v.port, { min: 0, max: 65_535 }),
      metricsHost: v["metrics-host"],
      metricsPort: intFlag("--metrics-port", v["metrics-port"], { min: 0, max: 65_535 }),
      tenantsDir: v["tenants-dir"],
      engines: v.engines,
      kube: v.kube ? (kubeconfigPath ? { kubeconfigPath } : { inCluster: true }) : undefined,
      systemNamespace: v["system-namespace"],
      dbSchema: v["db-schema"],
      maxBodyBytes: intFlag("--max-body-bytes", v["max-body-bytes"], { min: 1 }),
      upstreamTimeoutMs: intFlag("--upstream-timeout-ms", v["upstream-timeout-ms"], { min: 1 }),
      healthIntervalMs: intFlag("--health-interval-ms", v["health-interval-ms"], { min: 10 }),
      flowControl: onOff(v["flow-control"], "--flow-control"),
      batchLimit: intFlag("--max-num-seqs", v["max-num-seqs"], { min: 1 }),
      requestTimeoutMs: intFlag("--request-timeout-ms", v["request-timeout-ms"], { min: 100 }),
      replicaWaitMs: intFlag("--replica-wait-ms", v["replica-wait-ms"], { min: 0 }),
    },
  };
}

function onOff(value: string | undefined, flag: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === "on" || value === "off") return value === "on";
  throw new Error(`${flag} must be on or off, got '${value}'`);
}

export const routerCommand = {
  summary: "run the OpenAI-compatible, tenant-aware router",
  run: runRouter,
};
