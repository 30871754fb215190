// Keeps the agent's view honest against the engine's. An engine that restarted has forgotten
// every runtime-loaded adapter (AIBrix reported such adapters as Running, issues #235/#236), so
// the agent compares the engine's /v1/models with what it loaded — periodically and whenever
// someone asks for the inventory — never reports an adapter loaded that the engine lacks, and
// re-registers the ones it had loaded from the disk cache (or drops them if their files are gone).
import type { AgentState, ReloadOutcome } from "./adapter-manager.ts";
import type { CacheEntry } from "./disk-cache.ts";
import { SingleFlight } from "./single-flight.ts";

export type ReconcileReport = {
  engine: "ok" | "unavailable";
  reloaded: string[];
  gone: string[];
  failed: string[];
};

export function createReconciler(
  state: AgentState,
  reload: (entry: CacheEntry) => Promise<ReloadOutcome>,
  opts: { intervalMs: number },
) {
  const { cache, lock, engine, metrics, logger } = state;
  const flight = new SingleFlight<ReconcileReport>();
  let timer: NodeJS.Timeout | undefined;

  /**
   * Updates each entry's `loaded` from one engine snapshot and returns the entries the agent
   * had loaded that the engine no longer has. An entry changed while the snapshot was in flight
   * keeps its newer state (the generation check); an unreachable engine means nothing is loaded.
   */
  async function observe(): Promise<{ engineUp: boolean; missing: CacheEntry[] }> {
    const before = new Map(cache.list().map((e) => [e, e.generation]));
    let names: Set<string>;
    try {
      names = new Set((await engine.models()).map((m) => m.id));
    } catch {
      for (const [e, gen] of before) if (e.generation === gen && e.loaded) cache.setLoaded(e, false);
      return { engineUp: false, missing: [] };
    }
    const missing: CacheEntry[] = [];
    for (const [e, gen] of before) {
      if (e.generation !== gen) continue;
      const present = names.has(e.loraName);
      if (present !== e.loaded) cache.setLoaded(e, present);
      if (present) e.wanted = true;
      else if (e.wanted && !lock.isBusy(e.loraName)) missing.push(e);
    }
    return { engineUp: true, missing };
  }

  async function pass(): Promise<ReconcileReport> {
    const report: ReconcileReport = { engine: "ok", reloaded: [], gone: [], failed: [] };
    const { engineUp, missing } = await observe();
    if (!engineUp) return { ...report, engine: "unavailable" };
    for (const entry of missing) {
      // A load or delete holding the lock decides this adapter's fate itself.
      const r = await lock.tryRun(entry.loraName, () => reload(entry));
      if (!r.ran) continue;
      report[r.value].push(entry.loraName);
      metrics.reconciles.inc({ action: r.value });
    }
    if (report.reloaded.length || report.gone.length || report.failed.length) {
      logger.warn(report, "engine had lost adapters: reconciled");
    }
    return report;
  }

  function reconcile(): Promise<ReconcileReport> {
    return flight.do("reconcile", pass).promise;
  }

  return {
    observe,
    reconcile,
    start(): void {
      timer = setInterval(() => {
        reconcile().catch((err) => logger.error({ err: (err as Error).message }, "reconcile failed"));
      }, opts.intervalMs);
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
    },
  };
}

export type Reconciler = ReturnType<typeof createReconciler>;
