// Metering's Prometheus series. `tenant` is always the resolved tenant name (never client input),
// `reason` comes from a fixed set of rejection reasons, so label cardinality stays bounded.
import type { Registry } from "prom-client";
import { metricChildren } from "../core/metric-children.ts";
import { metricFactory } from "../core/metric-factory.ts";

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
  const m = metricFactory(registry);
  const rejections = m.counter(
    "loraplex_metering_rejections_total",
    "Requests refused by limits, spend caps or the metering failure policy, by tenant and reason",
    ["tenant", "reason"],
  );
  const spend = m.gauge(
    "loraplex_tenant_spend_usd",
    "Spend of the current period at list price, as last settled by this router",
    ["tenant", "period"],
  );
  const cap = m.gauge("loraplex_tenant_spend_cap_usd", "Spend cap of the period from the Tenant's limits", [
    "tenant",
    "period",
  ]);
  const alerts = m.counter(
    "loraplex_tenant_spend_alerts_total",
    "Spend threshold alerts fired (once per tenant, period and threshold)",
    ["tenant", "period", "threshold"],
  );
  const depth = m.gauge(
    "loraplex_usage_spool_depth",
    "Usage events in the Redis spool not yet written to Postgres",
  );
  const fallback = m.gauge(
    "loraplex_usage_spool_memory_buffered",
    "Usage events held in this process's memory because Redis was unreachable",
  );
  const dropped = m.counter(
    "loraplex_usage_events_dropped_total",
    "Usage events dropped because Redis and Postgres were both unreachable and the memory buffer was full",
  );
  const written = m.counter("loraplex_usage_events_written_total", "Usage events committed to Postgres");
  const latency = m.histogram(
    "loraplex_usage_batch_write_seconds",
    "Time to commit one batch of usage and audit rows to Postgres",
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  const failures = m.counter(
    "loraplex_usage_batch_failures_total",
    "Batches that could not be written (they stay in the spool and are retried)",
  );
  const deadTotal = m.counter(
    "loraplex_usage_events_dead_lettered_total",
    "Usage events Postgres refused even after repair, moved to the dead-letter stream",
  );
  const deadDepth = m.gauge(
    "loraplex_usage_dead_letter_depth",
    "Usage events in the dead-letter stream (not billed, not audited); alert when above 0",
  );
  const webhooks = m.counter("loraplex_alert_webhooks_total", "Alert webhook deliveries, after retries", [
    "result",
  ]);
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
