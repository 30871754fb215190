// /metrics series of the fair queues. The tenant label is the authenticated tenant of the lane
// (never a header or the `user` field, which would let clients forge or explode series); per-user
// lanes add up into their tenant's series.
import type { Registry } from "prom-client";
import { metricFactory } from "../../core/metric-factory.ts";

/** What the scrape reads of flow-control.ts's pools and lanes (structural, no import cycle). */
type LaneStats = {
  readonly tenant: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly client: { readonly queue: { readonly length: number } };
};
type PoolStats = { readonly ref: string; readonly lanes: ReadonlyMap<string, LaneStats> };

export type FairnessMetrics = {
  queueWait(tenant: string, ms: number): void;
  rejected(pool: string, tenant: string, reason: "depth" | "wait" | "disconnect"): void;
  fairnessIndex(pool: string, value: number): void;
};

const WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createFairnessMetrics(registry: Registry, pools: () => Iterable<PoolStats>): FairnessMetrics {
  const m = metricFactory(registry);
  /** Sums a lane field per (pool, tenant) at scrape time: nothing is counted on the request path. */
  const perTenant = (read: (lane: LaneStats) => number) => {
    const out = new Map<string, { pool: string; tenant: string; v: number }>();
    for (const p of pools()) {
      for (const lane of p.lanes.values()) {
        const k = `${p.ref}\u0000${lane.tenant}`;
        const e = out.get(k) ?? { pool: p.ref, tenant: lane.tenant, v: 0 };
        e.v += read(lane);
        out.set(k, e);
      }
    }
    return out.values();
  };
  m.gauge(
    "loraplex_router_queue_depth",
    "Requests waiting in the router's fair queue, by pool and tenant",
    ["pool", "tenant"],
    function () {
      this.reset();
      for (const e of perTenant((l) => l.client.queue.length))
        this.set({ pool: e.pool, tenant: e.tenant }, e.v);
    },
  );
  const wait = m.histogram(
    "loraplex_router_queue_wait_seconds",
    "Time requests waited in the fair queue before dispatch (only requests that queued)",
    WAIT_BUCKETS,
    ["tenant"],
  );
  m.counter(
    "loraplex_router_dispatched_tokens_total",
    "Tokens charged to each tenant's fair-share counter, by type (input | output)",
    ["pool", "tenant", "type"],
    function () {
      this.reset();
      for (const e of perTenant((l) => l.inputTokens))
        this.inc({ pool: e.pool, tenant: e.tenant, type: "input" }, Math.max(0, e.v));
      for (const e of perTenant((l) => l.outputTokens))
        this.inc({ pool: e.pool, tenant: e.tenant, type: "output" }, Math.max(0, e.v));
    },
  );
  const dropped = m.counter(
    "loraplex_router_queue_dropped_total",
    "Requests that left the fair queue without dispatch: depth / wait (answered 429) or disconnect",
    ["pool", "tenant", "reason"],
  );
  const index = m.gauge(
    "loraplex_router_fairness_index",
    "Jain's index of weighted token service among keys backlogged in the last 10 s window (1 = fair)",
    ["pool"],
  );
  return {
    queueWait(tenant, ms) {
      wait.labels(tenant).observe(ms / 1000);
    },
    rejected(pool, tenant, reason) {
      dropped.labels(pool, tenant, reason).inc();
    },
    fairnessIndex(pool, value) {
      index.labels(pool).set(value);
    },
  };
}
