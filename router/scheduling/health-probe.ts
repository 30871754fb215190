// Active health: every interval, each replica's engine /health and /metrics and its agent's
// GET /adapters are read. A replica is healthy when the engine answers both; its load comes from
// the engine's running/waiting counts; its residency from the agent's inventory (plus adapters
// with requests in flight). Passive failures (pools.ts) take a replica out between probes; only
// a passing probe brings it back.
import { type Dispatcher, request } from "undici";
import type { Logger } from "../../core/log.ts";
import type { AgentApi } from "./adapter-loader.ts";
import { parseEngineMetrics } from "./engine-metrics.ts";
import { applyEngineLoad, applyInventory, markResident, type ReplicaState } from "./replica-state.ts";

export type ProbeDeps = {
  agentFor(replica: ReplicaState): AgentApi;
  dispatcher: Dispatcher;
  timeoutMs: number;
  logger: Logger;
};

async function getText(url: string, deps: ProbeDeps): Promise<string> {
  const res = await request(url, {
    dispatcher: deps.dispatcher,
    signal: AbortSignal.timeout(deps.timeoutMs),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
  return text;
}

/** The agent client waits minutes (loads are slow); a probe must not. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Probes one replica and updates its state in place. */
async function probeReplica(r: ReplicaState, deps: ProbeDeps): Promise<void> {
  const askedAt = performance.now();
  const ownAtAsk = r.inFlight;
  const [health, metrics, inventory] = await Promise.allSettled([
    getText(`${r.engineUrl}/health`, deps),
    getText(`${r.engineUrl}/metrics`, deps),
    withTimeout(deps.agentFor(r).list(), deps.timeoutMs, `${r.agentUrl}/adapters`),
  ]);
  if (r.removed) return;

  const wasHealthy = r.healthy;
  if (health.status === "fulfilled" && metrics.status === "fulfilled") {
    const m = parseEngineMetrics(metrics.value);
    applyEngineLoad(r, m, ownAtAsk);
    if (m.maxLoras !== undefined) r.maxLoras = m.maxLoras;
    for (const name of m.activeAdapters) markResident(r, name, askedAt);
    r.healthy = true;
    r.consecutiveFailures = 0;
    r.lastError = undefined;
  } else {
    const failed = health.status === "rejected" ? health : (metrics as PromiseRejectedResult);
    r.healthy = false;
    r.lastError = reason(failed.reason);
  }

  if (inventory.status === "fulfilled") {
    r.agentOk = true;
    applyInventory(
      r,
      inventory.value.adapters.filter((a) => a.loaded).map((a) => a.lora_name),
      askedAt,
    );
  } else {
    r.agentOk = false;
  }

  if (wasHealthy !== r.healthy) {
    if (r.healthy) deps.logger.info({ replica: r.id, pool: r.poolRef }, "replica healthy");
    else deps.logger.warn({ replica: r.id, pool: r.poolRef, reason: r.lastError }, "replica unhealthy");
  }
}

export type HealthLoop = {
  /** Probes one replica now, sharing a probe already running for it. */
  probe(r: ReplicaState): Promise<void>;
  stop(): void;
};

export function startHealthLoop(
  replicas: () => Iterable<ReplicaState>,
  intervalMs: number,
  deps: ProbeDeps,
): HealthLoop {
  const running = new Map<ReplicaState, Promise<void>>();
  const probe = (r: ReplicaState): Promise<void> => {
    const current = running.get(r);
    if (current) return current;
    const p = probeReplica(r, deps)
      .catch((err) => deps.logger.error({ err, replica: r.id }, "health probe failed unexpectedly"))
      .finally(() => running.delete(r));
    running.set(r, p);
    return p;
  };
  const timer = setInterval(() => {
    for (const r of replicas()) void probe(r);
  }, intervalMs);
  timer.unref();
  return {
    probe,
    stop() {
      clearInterval(timer);
    },
  };
}
