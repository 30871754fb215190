// Prometheus metrics of the controller, served on /metrics by the health server.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { type Verb, WRITE_VERBS } from "../kube/client.ts";

export type ControllerMetrics = ReturnType<typeof createControllerMetrics>;

export function createControllerMetrics() {
  const registry = new Registry();
  const reconciles = new Counter({
    name: "loraplex_controller_reconcile_total",
    help: "Reconciles by kind and result (success, error)",
    labelNames: ["kind", "result"] as const,
    registers: [registry],
  });
  const reconcileErrors = new Counter({
    name: "loraplex_controller_reconcile_errors_total",
    help: "Reconciles that failed and were requeued with backoff, by kind",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  const reconcileDuration = new Histogram({
    name: "loraplex_controller_reconcile_duration_seconds",
    help: "Time spent in one reconcile, by kind",
    labelNames: ["kind"] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: "loraplex_controller_queue_depth",
    help: "Keys waiting in the work queue",
    registers: [registry],
  });
  const kubeRequests = new Counter({
    name: "loraplex_controller_kube_requests_total",
    help: "Requests to the Kubernetes API by verb, resource and status code",
    labelNames: ["verb", "resource", "code"] as const,
    registers: [registry],
  });
  const kubeWrites = new Counter({
    name: "loraplex_controller_kube_writes_total",
    help: "Write requests (create, update, patch, delete) to the Kubernetes API by resource",
    labelNames: ["verb", "resource"] as const,
    registers: [registry],
  });
  const kubeRequestDuration = new Histogram({
    name: "loraplex_controller_kube_request_duration_seconds",
    help: "Latency of Kubernetes API requests (until response headers) by verb",
    labelNames: ["verb"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const applySkipped = new Counter({
    name: "loraplex_controller_apply_skipped_total",
    help: "Applies skipped because the cluster already matched the desired object",
    labelNames: ["resource"] as const,
    registers: [registry],
  });
  const leader = new Gauge({
    name: "loraplex_controller_leader",
    help: "1 while this process holds the leader Lease",
    registers: [registry],
  });
  const tenants = new Gauge({
    name: "loraplex_controller_tenants",
    help: "Tenants in the cache by tier and Ready status",
    labelNames: ["tier", "ready"] as const,
    registers: [registry],
  });
  return {
    registry,
    reconciles,
    reconcileErrors,
    reconcileDuration,
    queueDepth,
    kubeRequests,
    kubeWrites,
    applySkipped,
    leader,
    tenants,
    observeRequest(verb: Verb, resource: string, status: number, seconds: number) {
      kubeRequests.inc({ verb, resource, code: String(status) });
      if (verb !== "watch") kubeRequestDuration.observe({ verb }, seconds);
      if (WRITE_VERBS.has(verb)) kubeWrites.inc({ verb, resource });
    },
  };
}
