// Metering's Prometheus series. `tenant` is always the resolved tenant name (never client input),
// `reason` comes from a fixed set of rejection reasons, so label cardinality stays bounded.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { metricChildren } from "../core/metric-children.ts";

export type MeteringMetrics = {
  rejected(tenant: string, reason: string): void;
  spend(tenant: string, period: "daily" | "monthly", usd: number): void;
  cap(tenant: string, period: "daily" | "monthly", usd: number): void;
  alert(tenant: string, period: "daily" | "monthly", threshold: number): void;
  spoolDepth(n: number): void;
  spoolFallback(n: number): void;
  spoolDropped(n: number): void;
  batchWritten(events: number, seconds: number): void;
  batchFailed(): void;
  /** One usage event Postgres refused even repaired (moved to the dead-letter stream). */
  deadLettered(): void;
  /** Entries now in the dead-letter stream: anything above 0 is lost billing and must page someone. */
  deadLetterDepth(n: number): void;
  webhook(result: "delivered" | "failed"): void;
};

export function createMeteringMetrics(registry: Registry): MeteringMetrics {
  const registers = [registry];
  const rejections = new Counter({
    name: "loraplex_metering_rejections_total",
    help: "Requests refused by limits, spend caps or the metering failure policy, by tenant and reason",
    labelNames: ["tenant", "reason"],
    registers,
  });
  const spend = new Gauge({
    name: "loraplex_tenant_spend_usd",
    help: "Spend of the current period at list price, as last settled by this router",
    labelNames: ["tenant", "period"],
    registers,
  });
  const cap = new Gauge({
    name: "loraplex_tenant_spend_cap_usd",
    help: "Spend cap of the period from the Tenant's limits",
    labelNames: ["tenant", "period"],
    registers,
  });
  const alerts = new Counter({
    name: "loraplex_tenant_spend_alerts_total",
    help: "Spend threshold alerts fired (once per tenant, period and threshold)",
    labelNames: ["tenant", "period", "threshold"],
    registers,
  });
  const depth = new Gauge({
    name: "loraplex_usage_spool_depth",
    help: "Usage events in the Redis spool not yet written to Postgres",
    registers,
  });
  const fallback = new Gauge({
    name: "loraplex_usage_spool_memory_buffered",
    help: "Usage events held in this process's memory because Redis was unreachable",
    registers,
  });
  const dropped = new Counter({
    name: "loraplex_usage_events_dropped_total",
    help: "Usage events dropped because Redis and Postgres were both unreachable and the memory buffer was full",
    registers,
  });
  const written = new Counter({
    name: "loraplex_usage_events_written_total",
    help: "Usage events committed to Postgres",
    registers,
  });
  const latency = new Histogram({
    name: "loraplex_usage_batch_write_seconds",
    help: "Time to commit one batch of usage and audit rows to Postgres",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const failures = new Counter({
    name: "loraplex_usage_batch_failures_total",
    help: "Batches that could not be written (they stay in the spool and are retried)",
    registers,
  });
  const deadTotal = new Counter({
    name: "loraplex_usage_events_dead_lettered_total",
    help: "Usage events Postgres refused even after repair, moved to the dead-letter stream",
    registers,
  });
  const deadDepth = new Gauge({
    name: "loraplex_usage_dead_letter_depth",
    help: "Usage events in the dead-letter stream (not billed, not audited); alert when above 0",
    registers,
  });
  const webhooks = new Counter({
    name: "loraplex_alert_webhooks_total",
    help: "Alert webhook deliveries, after retries",
    labelNames: ["result"],
    registers,
  });
  // Every settlement sets both periods' spend and cap: children kept (core/metric-children.ts).
  const spendOf = metricChildren((t, p) => spend.labels(t, p));
  const capOf = metricChildren((t, p) => cap.labels(t, p));
  return {
    rejected: (t, r) => rejections.labels(t, r).inc(),
    spend: (t, p, usd) => spendOf(t, p).set(usd),
    cap: (t, p, usd) => capOf(t, p).set(usd),
    alert: (t, p, th) => alerts.labels(t, p, String(th)).inc(),
    spoolDepth: (n) => depth.set(n),
    spoolFallback: (n) => fallback.set(n),
    spoolDropped: (n) => dropped.inc(n),
    batchWritten: (n, s) => {
      written.inc(n);
      latency.observe(s);
    },
    batchFailed: () => failures.inc(),
    deadLettered: () => deadTotal.inc(),
    deadLetterDepth: (n) => deadDepth.set(n),
    webhook: (r) => webhooks.labels(r).inc(),
  };
}
