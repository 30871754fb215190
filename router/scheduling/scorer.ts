// The pick policy. Runs on every request, so it is two passes over the pool's replicas with no
// allocation and no I/O.
//
//   base model  → the least loaded healthy replica (ties rotate).
//   adapter     → (1) a replica where the adapter is resident (or being loaded by us),
//                 (2) else one with a free LoRA slot (resident < max_loras),
//                 (3) else the least loaded, which will load it and let vLLM evict its LRU.
//   Always skipped: unhealthy replicas, the caller's exclude set, and replicas whose load is
//   well above the pool average or at the engine's batch limit (more would only wait in the
//   engine's own first-come-first-served queue; router/fairness queues fairly instead). The last rule is what spreads a hot adapter: once its replica
//   is overloaded, the next request for it falls through to (2)/(3) and a second replica loads
//   it, instead of every request piling onto one pod (llm-d router #709).
import { isResidentOrLoading, loadOf, type ReplicaState } from "./replica-state.ts";

export type ScorerOptions = {
  /** A replica is overloaded above max(avg × factor, avg + slack) requests. */
  overloadFactor: number;
  overloadSlack: number;
};

export const DEFAULT_SCORER: ScorerOptions = { overloadFactor: 1.5, overloadSlack: 4 };

const TIER_RESIDENT = 0;
const TIER_FREE_SLOT = 1;
const TIER_EVICT = 2;

function usable(r: ReplicaState, exclude: ReadonlySet<string> | undefined): boolean {
  return r.healthy && !r.removed && (exclude === undefined || !exclude.has(r.id));
}

function hasFreeSlot(r: ReplicaState): boolean {
  return r.maxLoras !== undefined && r.resident.size + r.loading.size < r.maxLoras;
}

/**
 * Chooses a replica, or undefined when none is usable (the caller answers 503). `start` rotates
 * where the scan begins, so equal candidates take turns instead of the first always winning.
 */
export function pickReplica(
  replicas: readonly ReplicaState[],
  loraName: string | undefined,
  exclude: ReadonlySet<string> | undefined,
  start: number,
  opts: ScorerOptions = DEFAULT_SCORER,
): ReplicaState | undefined {
  const n = replicas.length;
  let count = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const r = replicas[i]!;
    if (!usable(r, exclude)) continue;
    count++;
    total += loadOf(r);
  }
  if (count === 0) return undefined;
  const avg = total / count;
  const cap = Math.max(avg * opts.overloadFactor, avg + opts.overloadSlack);

  let best: ReplicaState | undefined;
  let bestTier = TIER_EVICT + 1;
  let bestLoad = Number.POSITIVE_INFINITY;
  // When every replica that could take the request is over the cap (say the adapter's holders
  // are busy and the other agents are down), an overloaded one is still better than a 503.
  let fallback: ReplicaState | undefined;
  let fallbackLoad = Number.POSITIVE_INFINITY;
  const offset = start % n;
  for (let k = 0; k < n; k++) {
    const r = replicas[(offset + k) % n]!;
    if (!usable(r, exclude)) continue;
    let tier = TIER_RESIDENT;
    if (loraName !== undefined && !isResidentOrLoading(r, loraName)) {
      // Loading needs the agent; a replica whose agent is down can serve only what it holds.
      if (!r.agentOk) continue;
      tier = hasFreeSlot(r) ? TIER_FREE_SLOT : TIER_EVICT;
    }
    const load = loadOf(r);
    if (load > cap || load >= r.batchLimit) {
      if (load < fallbackLoad) {
        fallback = r;
        fallbackLoad = load;
      }
      continue;
    }
    if (
      tier < bestTier ||
      (tier === bestTier &&
        (load < bestLoad ||
          // Among equally loaded replicas that must load, evict from the one holding fewest.
          (load === bestLoad && tier !== TIER_RESIDENT && r.resident.size < best!.resident.size)))
    ) {
      best = r;
      bestTier = tier;
      bestLoad = load;
    }
  }
  return best ?? fallback;
}
