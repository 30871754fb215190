// Prometheus metrics of the adapter agent. No tenant label: adapters are many and come and go,
// and per-tenant accounting belongs to the router's metering, not to a per-pod sidecar.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type AgentMetrics = ReturnType<typeof createAgentMetrics>;

export function createAgentMetrics(cache: () => { bytes: number; maxBytes: number; adapters: number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "loraplex_agent_" });
  const seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
  return {
    registry,
    loads: new Counter({
      name: "loraplex_agent_loads_total",
      help: "Load requests by result: downloaded, disk_hit, already_loaded, or the error code",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
    loadsInFlight: new Gauge({
      name: "loraplex_agent_loads_in_flight",
      help: "Load requests being answered right now",
      registers: [registry],
    }),
    downloadBytes: new Counter({
      name: "loraplex_agent_download_bytes_total",
      help: "Bytes downloaded from object storage",
      registers: [registry],
    }),
    downloadSeconds: new Histogram({
      name: "loraplex_agent_download_seconds",
      help: "Time to download one adapter from object storage",
      buckets: seconds,
      registers: [registry],
    }),
    loadSeconds: new Histogram({
      name: "loraplex_agent_engine_load_seconds",
      help: "Time the engine's load_lora_adapter call took",
      buckets: seconds,
      registers: [registry],
    }),
    evictions: new Counter({
      name: "loraplex_agent_evictions_total",
      help: "Adapters evicted from the disk cache (unloaded from the engine first)",
      registers: [registry],
    }),
    reconciles: new Counter({
      name: "loraplex_agent_reconcile_actions_total",
      help: "Adapters the engine had lost: reloaded from disk, or gone (files missing or refused)",
      labelNames: ["action"] as const,
      registers: [registry],
    }),
    cacheBytes: new Gauge({
      name: "loraplex_agent_cache_bytes",
      help: "Bytes of adapters in the disk cache",
      registers: [registry],
      collect() {
        this.set(cache().bytes);
      },
    }),
    cacheMaxBytes: new Gauge({
      name: "loraplex_agent_cache_max_bytes",
      help: "The disk cache's byte budget (--cache-max-bytes)",
      registers: [registry],
      collect() {
        this.set(cache().maxBytes);
      },
    }),
    cacheAdapters: new Gauge({
      name: "loraplex_agent_cache_adapters",
      help: "Adapters in the disk cache",
      registers: [registry],
      collect() {
        this.set(cache().adapters);
      },
    }),
  };
}
