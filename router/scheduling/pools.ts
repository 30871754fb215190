// The scheduling side of the router's data path: discovery → replica state → health probes →
// pick → adapter loading.
//
// Call order per request:  const r = pools.pick(ref, lora, tried);  pools.requestStarted(r);
//   await pools.ensureAdapter(r, tenant, adapter);  …forward…;  pools.requestFinished(r, ok).
// Keep pick → requestStarted → ensureAdapter free of awaits in between: the next request's pick
// then sees this one's load and in-progress adapter load, and joins it instead of loading again.
import type { Redis } from "ioredis";
import { Agent as UndiciAgent } from "undici";
import { type AgentClient, createAgentClient } from "../../agent-api/client.ts";
import { parsePoolRef } from "../../core/cluster-layout.ts";
import type { Logger } from "../../core/log.ts";
import type { KeySpace } from "../../core/redis-keys.ts";
import type { ResolvedAdapter } from "../../core/request-context.ts";
import type { KubeOptions } from "../../kube/config.ts";
import { type AgentApi, createAdapterLoader, type EnsureResult } from "./adapter-loader.ts";
import type { Discovery, EngineEndpoint } from "./discovery.ts";
import { createStaticDiscovery, staticPoolRefs } from "./discovery-static.ts";
import { startHealthLoop } from "./health-probe.ts";
import {
  markNotResident,
  newReplica,
  type Replica,
  type ReplicaState,
  recordFailure,
  recordSuccess,
} from "./replica-state.ts";
import { DEFAULT_SCORER, pickReplica, type ScorerOptions } from "./scorer.ts";

export type { Replica } from "./replica-state.ts";

export type PoolsOptions = {
  /** The router's --engines value (local mode). */
  static?: string;
  /** Discover replicas from EndpointSlices (cluster mode). */
  kube?: KubeOptions;
  systemNamespace: string;
  healthIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Failed requests in a row that take a replica out until a probe passes. */
  failureThreshold?: number;
  /** Shared by router processes for cross-process single flight of adapter loads. */
  redis?: Redis;
  /** The deployment's Redis names (the adapter-load lock); default: the schema-less one. */
  keys?: KeySpace;
  logger: Logger;
  scorer?: ScorerOptions;
  /** Each engine's batch limit (vLLM --max-num-seqs); default: learned from the engines' metrics. */
  batchLimit?: number;
  /** Adapter-load lock tuning; the defaults suit production. */
  loadLock?: { ttlMs?: number; waitTimeoutMs?: number; pollMs?: number };
};

export interface Pools {
  /** Synchronous, allocation-free; undefined → the caller answers 503 "no healthy replica". */
  pick(poolRef: string, loraName: string | undefined, exclude?: ReadonlySet<string>): Replica | undefined;
  /** Warm → resolves with no network call; cold → one agent load, shared (single flight). Throws ApiError 502/503. */
  ensureAdapter(replica: Replica, tenant: string, adapter: ResolvedAdapter): Promise<EnsureResult>;
  requestStarted(replica: Replica): void;
  requestFinished(replica: Replica, ok: boolean): void;
  /** Connect error or 5xx before the first byte: the replica is skipped until a probe passes. */
  markFailed(replica: Replica, reason: string): void;
  /** The engine said it does not know this adapter (404 on the lora name): load it again next time. */
  forgetAdapter(replica: Replica, loraName: string): void;
  /** The pool's current replicas (no copy: read, never keep or change); empty when unknown. */
  poolReplicas(poolRef: string): readonly Replica[];
  /** Starts discovery of a pool and resolves once its replicas have been probed once. */
  watch(poolRef: string): Promise<void>;
  replicas(): Replica[];
  close(): Promise<void>;
}

const NO_REPLICAS: readonly Replica[] = [];

type PoolEntry = { replicas: ReplicaState[]; cursor: number; firstProbes: Promise<unknown> };

export async function createPools(opts: PoolsOptions): Promise<Pools> {
  const log = opts.logger;
  const scorer = opts.scorer ?? DEFAULT_SCORER;
  const threshold = opts.failureThreshold ?? 3;
  const pools = new Map<string, PoolEntry>();
  const agents = new Map<string, AgentClient>();
  const dispatcher = new UndiciAgent({ connections: 4, keepAliveTimeout: 30_000 });

  const agentFor = (r: ReplicaState): AgentApi => {
    let c = agents.get(r.agentUrl);
    if (!c) {
      c = createAgentClient(r.agentUrl);
      agents.set(r.agentUrl, c);
    }
    return c;
  };
  const health = startHealthLoop(allReplicas, opts.healthIntervalMs ?? 2_000, {
    agentFor,
    dispatcher,
    timeoutMs: opts.probeTimeoutMs ?? 2_000,
    logger: log,
  });
  const loader = createAdapterLoader({
    agentFor,
    redis: opts.redis,
    keys: opts.keys,
    logger: log,
    lockTtlMs: opts.loadLock?.ttlMs,
    waitTimeoutMs: opts.loadLock?.waitTimeoutMs,
    pollMs: opts.loadLock?.pollMs,
  });

  function* allReplicas(): Generator<ReplicaState> {
    for (const p of pools.values()) yield* p.replicas;
  }

  function entry(poolRef: string): PoolEntry {
    let p = pools.get(poolRef);
    if (!p) {
      p = { replicas: [], cursor: 0, firstProbes: Promise.resolve() };
      pools.set(poolRef, p);
    }
    return p;
  }

  // Discovery reports a pool's full endpoint set; replicas that stay keep their state.
  function onEndpoints(poolRef: string, endpoints: readonly EngineEndpoint[]): void {
    const p = entry(poolRef);
    const old = new Map(p.replicas.map((r) => [r.id, r]));
    const next: ReplicaState[] = [];
    const fresh: ReplicaState[] = [];
    for (const ep of endpoints) {
      let r = old.get(ep.engineUrl);
      if (r && r.agentUrl === ep.agentUrl) old.delete(ep.engineUrl);
      else {
        r = newReplica(poolRef, ep.engineUrl, ep.agentUrl, opts.batchLimit);
        fresh.push(r);
      }
      next.push(r);
    }
    for (const gone of old.values()) gone.removed = true;
    p.replicas = next;
    if (fresh.length || old.size) {
      log.info(
        { pool: poolRef, replicas: next.map((r) => r.id), added: fresh.length, removed: old.size },
        "pool replicas changed", // names the URLs behind the replica labels of /metrics,
      );
    }
    // Chained, not replaced: a repeat of the same endpoint set must not hide probes still running.
    if (fresh.length) p.firstProbes = Promise.all([p.firstProbes, ...fresh.map((r) => health.probe(r))]);
  }

  let discovery: Discovery | undefined;
  if (opts.kube) {
    // Loaded only in cluster mode (the Kubernetes client is slow to import; see create-router.ts).
    const { createEndpointSliceDiscovery } = await import("./discovery-endpointslices.ts");
    discovery = createEndpointSliceDiscovery(opts.kube, onEndpoints, log);
  } else if (opts.static !== undefined) discovery = createStaticDiscovery(opts.static, onEndpoints);

  async function watch(poolRef: string): Promise<void> {
    parsePoolRef(poolRef);
    if (!discovery) return;
    await discovery.watch(poolRef);
    await entry(poolRef).firstProbes;
  }

  if (opts.static !== undefined && !opts.kube) await Promise.all(staticPoolRefs(opts.static).map(watch));

  return {
    pick(poolRef, loraName, exclude) {
      const p = pools.get(poolRef);
      if (!p) {
        // First request for a pool nobody asked to watch: start now; this request gets a 503.
        if (discovery)
          watch(poolRef).catch((err) => log.warn({ pool: poolRef, err: String(err) }, "cannot watch pool"));
        return undefined;
      }
      p.cursor = (p.cursor + 1) & 0x3fffffff;
      return pickReplica(p.replicas, loraName, exclude, p.cursor, scorer);
    },
    ensureAdapter(replica, tenant, adapter) {
      return loader.ensure(replica as ReplicaState, tenant, adapter);
    },
    requestStarted(replica) {
      (replica as ReplicaState).inFlight++;
    },
    requestFinished(replica, ok) {
      const r = replica as ReplicaState;
      if (r.inFlight > 0) r.inFlight--;
      if (ok) recordSuccess(r);
      else if (recordFailure(r, "requests failing", threshold)) {
        log.warn(
          { replica: r.id, pool: r.poolRef, failures: r.consecutiveFailures },
          "replica taken out after failures",
        );
      }
    },
    markFailed(replica, reason) {
      const r = replica as ReplicaState;
      r.consecutiveFailures++;
      r.lastError = reason;
      if (r.healthy)
        log.warn({ replica: r.id, pool: r.poolRef, reason }, "replica failed; skipped until a probe passes");
      r.healthy = false;
    },
    forgetAdapter(replica, loraName) {
      markNotResident(replica as ReplicaState, loraName);
    },
    poolReplicas: (poolRef) => pools.get(poolRef)?.replicas ?? NO_REPLICAS,
    watch,
    replicas: () => [...allReplicas()],
    async close() {
      health.stop();
      await discovery?.close();
      await Promise.all([...agents.values()].map((a) => a.close()));
      await dispatcher.close();
    },
  };
}
