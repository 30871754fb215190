// The router's Prometheus metrics. The `tenant` label is only ever set from the tenant that an
// API key resolved to (or "none" before that), and `model` only from a resolved model name, so
// client input can neither forge another tenant's series nor explode label cardinality.
import { createHash } from "node:crypto";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { metricChildren as memo } from "../core/metric-children.ts";

export const NO_TENANT = "none";

type ReplicaView = { id: string; poolRef: string; healthy: boolean; inFlight: number };

export type RouterMetrics = {
  registry: Registry;
  /** One finished request; `tenant`/`model` must be resolved values (or NO_TENANT). */
  request(tenant: string, model: string, status: number, durationMs: number, stream: boolean): void;
  ttft(tenant: string, model: string, ms: number): void;
  tokens(tenant: string, prompt: number, completion: number): void;
  overhead(ms: number): void;
  /** A request found its adapter already resident (no I/O). */
  adapterWarm(): void;
  /** One cold load through the agent finished (counted once, however many requests joined it). */
  adapterLoad(result: "loaded" | "failed", ms: number): void;
  upstreamRetry(reason: string): void;
};

/**
 * The `replica` label: a short digest of the engine URL, never the URL itself, so a scrape does
 * not map the engine network. The router's log line "replicas changed" names the URLs.
 */
export function replicaLabel(id: string): string {
  let label = replicaLabels.get(id);
  if (label === undefined) {
    label = `r-${createHash("sha256").update(id).digest("hex").slice(0, 12)}`;
    replicaLabels.set(id, label);
  }
  return label;
}
const replicaLabels = new Map<string, string>();

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function createRouterMetrics(replicas: () => ReplicaView[]): RouterMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "loraplex_router_" });
  const requests = new Counter({
    name: "loraplex_router_requests_total",
    help: "Requests answered, by resolved tenant, resolved model and HTTP status",
    labelNames: ["tenant", "model", "status"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "loraplex_router_request_duration_seconds",
    help: "Time from request arrival to the end of the response",
    labelNames: ["tenant", "model", "stream"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const ttft = new Histogram({
    name: "loraplex_router_time_to_first_token_seconds",
    help: "Time from request arrival to the first streamed token event",
    labelNames: ["tenant", "model"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const tokens = new Counter({
    name: "loraplex_router_tokens_total",
    help: "Tokens processed, by resolved tenant and type (prompt | completion)",
    labelNames: ["tenant", "type"],
    registers: [registry],
  });
  const overhead = new Histogram({
    name: "loraplex_router_overhead_seconds",
    help: "Time spent in the router itself, excluding waits on engines and agents",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [registry],
  });
  const loads = new Counter({
    name: "loraplex_router_adapter_loads_total",
    help: "Cold adapter loads through the agent, by result (loaded | failed); joined loads count once",
    labelNames: ["result"],
    registers: [registry],
  });
  const warm = new Counter({
    name: "loraplex_router_adapter_warm_total",
    help: "Requests whose adapter was already resident on the picked replica (no load, no I/O)",
    registers: [registry],
  });
  const loadDuration = new Histogram({
    name: "loraplex_router_adapter_load_duration_seconds",
    help: "Duration of cold adapter loads through the agent",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const retries = new Counter({
    name: "loraplex_router_upstream_retries_total",
    help: "Requests retried on another replica after a failure before the first response byte",
    labelNames: ["reason"],
    registers: [registry],
  });
  new Gauge({
    name: "loraplex_router_replica_healthy",
    help: "1 when the router currently routes to the replica, 0 when it skips it",
    labelNames: ["pool", "replica"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of replicas())
        this.set({ pool: r.poolRef, replica: replicaLabel(r.id) }, r.healthy ? 1 : 0);
    },
  });
  new Gauge({
    name: "loraplex_router_replica_in_flight",
    help: "Requests this router has in flight to each replica",
    labelNames: ["pool", "replica"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of replicas()) this.set({ pool: r.poolRef, replica: replicaLabel(r.id) }, r.inFlight);
    },
  });

  // On the hot path: each label set's child is looked up once (see core/metric-children.ts).
  const requestsBy = memo((t, m, s) => requests.labels(t, m, s));
  const durationBy = memo((t, m, s) => duration.labels(t, m, s));
  const ttftBy = memo((t, m) => ttft.labels(t, m));
  const tokensBy = memo((t, type) => tokens.labels(t, type));

  return {
    registry,
    request(tenant, model, status, durationMs, stream) {
      requestsBy(tenant, model, String(status)).inc();
      durationBy(tenant, model, String(stream)).observe(durationMs / 1000);
    },
    ttft(tenant, model, ms) {
      ttftBy(tenant, model).observe(ms / 1000);
    },
    tokens(tenant, prompt, completion) {
      if (prompt > 0) tokensBy(tenant, "prompt").inc(prompt);
      if (completion > 0) tokensBy(tenant, "completion").inc(completion);
    },
    overhead(ms) {
      overhead.observe(ms / 1000);
    },
    adapterWarm() {
      warm.inc();
    },
    adapterLoad(result, ms) {
      loads.labels(result).inc();
      if (result === "loaded") loadDuration.observe(ms / 1000);
    },
    upstreamRetry(reason) {
      retries.labels(reason).inc();
    },
  };
}
