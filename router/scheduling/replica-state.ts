// What the router believes about one engine replica: health, load and which adapters it holds.
// The scorer reads these fields on every request, so they are plain mutable fields updated in
// place by the health probe, the adapter loader and the request hooks.

/** The view of a replica that the rest of the router sees (router data-path contract). */
export type Replica = {
  readonly id: string; // the engine URL: unique within a router
  readonly poolRef: string;
  readonly engineUrl: string;
  readonly agentUrl: string;
  readonly healthy: boolean;
  /** Requests this router process has in flight on the replica. */
  readonly inFlight: number;
  /** The engine's --max-loras, from vllm:lora_requests_info's max_lora label once scraped. */
  readonly maxLoras?: number;
  /** Engine lora names known to be registered on the replica. */
  readonly resident: ReadonlySet<string>;
  /**
   * Sequences the engine runs at once (vLLM --max-num-seqs, or fewer when KV-cache bound):
   * learned as the running count of a scrape that also saw requests waiting. Infinity until then.
   */
  readonly batchLimit: number;
  /** Requests other routers have on the engine, estimated at the last /metrics scrape. */
  readonly externalLoad: number;
  /** KV-cache usage (0..1) at the last scrape; 0 when the engine does not report it. */
  readonly kvUsage: number;
  /** vllm:num_requests_waiting grew between the last two scrapes. */
  readonly waitingRising: boolean;
};

export type ReplicaState = {
  -readonly [K in keyof Replica]: Replica[K];
} & {
  resident: Set<string>;
  /** Loads this process has started on the replica and not finished; counted as resident. */
  loading: Set<string>;
  /** When each resident name was last confirmed; an inventory older than that cannot drop it. */
  confirmedAt: Map<string, number>;
  /** The adapter agent answered its last probe; without it nothing new can be loaded here. */
  agentOk: boolean;
  /** running + waiting from the last /metrics scrape. */
  engineRunning: number;
  engineWaiting: number;
  consecutiveFailures: number;
  lastError: string | undefined;
  /** Set once discovery drops the replica; in-flight requests may still hold the object. */
  removed: boolean;
  /** The batch limit was configured (--max-num-seqs), not learned from scrapes. */
  batchLimitFixed: boolean;
};

export function newReplica(
  poolRef: string,
  engineUrl: string,
  agentUrl: string,
  batchLimit?: number,
): ReplicaState {
  return {
    id: engineUrl,
    poolRef,
    engineUrl,
    agentUrl,
    // Unknown until the first probe answers: never route to a replica nobody has seen alive.
    healthy: false,
    inFlight: 0,
    maxLoras: undefined,
    resident: new Set(),
    loading: new Set(),
    confirmedAt: new Map(),
    agentOk: false,
    batchLimit: batchLimit ?? Number.POSITIVE_INFINITY,
    batchLimitFixed: batchLimit !== undefined,
    kvUsage: 0,
    waitingRising: false,
    externalLoad: 0,
    engineRunning: 0,
    engineWaiting: 0,
    consecutiveFailures: 0,
    lastError: undefined,
    removed: false,
  };
}

/** The load the scorer balances: our own in-flight requests plus other routers' share. */
export function loadOf(r: ReplicaState): number {
  return r.inFlight + r.externalLoad;
}

/**
 * Takes in one /metrics scrape. Engines queue only once their batch is full, so the running
 * count of a scrape that saw waiting requests is the batch limit (the largest one seen wins:
 * a KV-bound moment may run fewer).
 */
export function applyEngineLoad(
  r: ReplicaState,
  m: { running: number; waiting: number; kvUsage: number | undefined },
  ownAtAsk: number,
): void {
  r.waitingRising = m.waiting > 0 && m.waiting > r.engineWaiting;
  r.engineRunning = m.running;
  r.engineWaiting = m.waiting;
  r.kvUsage = m.kvUsage ?? 0;
  if (m.waiting > 0 && m.running > 0 && !r.batchLimitFixed)
    r.batchLimit = r.batchLimit === Number.POSITIVE_INFINITY ? m.running : Math.max(r.batchLimit, m.running);
  // What the engine holds beyond our own requests is other routers' (or direct) traffic.
  r.externalLoad = Math.max(0, m.running + m.waiting - ownAtAsk);
}

export function isResidentOrLoading(r: ReplicaState, loraName: string): boolean {
  return r.resident.has(loraName) || r.loading.has(loraName);
}

export function markResident(r: ReplicaState, loraName: string, at: number): void {
  r.resident.add(loraName);
  r.confirmedAt.set(loraName, at);
}

export function markNotResident(r: ReplicaState, loraName: string): void {
  r.resident.delete(loraName);
  r.confirmedAt.delete(loraName);
}

/**
 * Replaces residency with an agent inventory that was requested at `askedAt`. Names confirmed
 * after the request went out (a load that finished meanwhile) survive a list that predates them.
 */
export function applyInventory(r: ReplicaState, loaded: Iterable<string>, askedAt: number): void {
  const seen = new Set<string>();
  for (const name of loaded) {
    seen.add(name);
    r.resident.add(name);
    const prev = r.confirmedAt.get(name);
    if (prev === undefined || prev < askedAt) r.confirmedAt.set(name, askedAt);
  }
  for (const name of r.resident) {
    if (!seen.has(name) && (r.confirmedAt.get(name) ?? 0) < askedAt) markNotResident(r, name);
  }
}

/** A success resets the passive-failure streak. */
export function recordSuccess(r: ReplicaState): void {
  r.consecutiveFailures = 0;
}

/** Counts a failed request; `threshold` failures in a row take the replica out until a probe passes. */
export function recordFailure(r: ReplicaState, reason: string, threshold: number): boolean {
  r.consecutiveFailures++;
  r.lastError = reason;
  if (r.consecutiveFailures >= threshold && r.healthy) {
    r.healthy = false;
    return true;
  }
  return false;
}
