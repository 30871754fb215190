// What the agent does with adapters: load (gate → disk cache or S3 download → verify → engine),
// remove, erase a tenant. Every change to one lora_name runs under that name's lock, and
// identical concurrent loads share one flight, so N callers cost one download and one load call.

import type { AgentAdapter, EraseResult, LoadRequest, LoadResult, RemoveResult } from "../agent-api/types.ts";
import type { Logger } from "../core/log.ts";
import { checkAdapterDir } from "../core/peft.ts";
import { checkAdapterSource, loraName } from "../core/storage-layout.ts";
import type { CacheEntry, DiskCache } from "./disk-cache.ts";
import type { Downloader } from "./downloader.ts";
import type { EngineClient } from "./engine-client.ts";
import { AgentFailure, asFailure } from "./errors.ts";
import type { KeyedLock } from "./keyed-lock.ts";
import type { AgentMetrics } from "./metrics.ts";
import { SingleFlight } from "./single-flight.ts";

export type AgentState = {
  cache: DiskCache;
  lock: KeyedLock;
  engine: EngineClient;
  metrics: AgentMetrics;
  logger: Logger;
};

export type ManagerOptions = {
  bucket: string;
  maxLoraRank: number;
  /** The engine's served model; asked from the engine when not given. */
  baseModel?: string;
  /** Where the engine sees a cache folder (the same path unless the volume is mounted elsewhere). */
  enginePath: (dir: string) => string;
};

export type ReloadOutcome = "reloaded" | "gone" | "failed";

export function createAdapterManager(state: AgentState, downloader: Downloader, opts: ManagerOptions) {
  const { cache, lock, engine, metrics, logger } = state;
  const flights = new SingleFlight<LoadResult>();
  const loadingTenants = new Map<string, string>(); // lora_name → tenant, for erasure during a load
  let baseModel = opts.baseModel;

  async function servedModel(): Promise<string> {
    baseModel ??= await engine.baseModel();
    return baseModel;
  }

  async function engineLoad(entry: CacheEntry): Promise<{ alreadyLoaded: boolean; ms: number }> {
    const started = performance.now();
    let outcome: Awaited<ReturnType<EngineClient["load"]>>;
    try {
      outcome = await engine.load(entry.loraName, opts.enginePath(entry.dir));
    } catch (err) {
      // The engine will never take these files: keeping them would only waste the budget.
      if (err instanceof AgentFailure && err.code === "invalid_adapter") await cache.remove(entry.loraName);
      throw err;
    }
    const ms = performance.now() - started;
    metrics.loadSeconds.observe(ms / 1000);
    cache.setLoaded(entry, true);
    entry.wanted = true;
    return { alreadyLoaded: outcome === "already_loaded", ms };
  }

  /** Eviction: unload from the engine first, because vLLM re-reads a registered adapter's files. */
  async function evict(victim: CacheEntry): Promise<boolean> {
    const r = await lock.tryRun(victim.loraName, async () => {
      if (cache.get(victim.loraName) !== victim) return false;
      try {
        await engine.unload(victim.loraName);
      } catch (err) {
        logger.warn(
          { lora_name: victim.loraName, err: (err as Error).message },
          "cannot evict: unload failed",
        );
        return false;
      }
      cache.setLoaded(victim, false);
      await cache.remove(victim.loraName);
      metrics.evictions.inc();
      logger.info({ lora_name: victim.loraName, bytes: victim.bytes }, "evicted adapter from disk cache");
      return true;
    });
    return r.ran && r.value;
  }

  function result(entry: CacheEntry, r: Partial<LoadResult>): LoadResult {
    return {
      lora_name: entry.loraName,
      tenant: entry.tenant,
      adapter: entry.adapter,
      version: entry.version,
      bytes: entry.bytes,
      download_ms: 0,
      load_ms: 0,
      cached: true,
      already_loaded: false,
      ...r,
    };
  }

  async function fromDisk(entry: CacheEntry, req: LoadRequest): Promise<LoadResult | undefined> {
    if (entry.source !== req.source) {
      throw new AgentFailure(
        409,
        "version_conflict",
        `${entry.tenant}/${entry.adapter} version ${entry.version} was loaded from ${entry.source}; a version's content is immutable, publish a new version for a new source`,
      );
    }
    if (req.sha256 && req.sha256 !== entry.weightsSha256)
      throw checksumMismatch(req.sha256, entry.weightsSha256);
    cache.touch(entry);
    if (entry.loaded) {
      const generation = entry.generation;
      const names = new Set((await engine.models()).map((m) => m.id));
      if (names.has(entry.loraName)) return result(entry, { already_loaded: true });
      if (entry.generation === generation) cache.setLoaded(entry, false); // the engine lost it
    }
    if (!(await cache.intact(entry))) {
      await cache.remove(entry.loraName);
      return undefined;
    }
    const { alreadyLoaded, ms } = await engineLoad(entry);
    return result(entry, { already_loaded: alreadyLoaded, load_ms: ms });
  }

  async function download(req: LoadRequest, name: string, prefix: string): Promise<LoadResult> {
    const model = await servedModel();
    const temp = await cache.tempDir(name);
    const held: { reservation?: { release(): void } } = {};
    let entry: CacheEntry;
    let downloadMs: number;
    try {
      const dl = await downloader.download(prefix, temp, async (total) => {
        held.reservation = await cache.reserve(total, evict);
      });
      downloadMs = dl.ms;
      metrics.downloadBytes.inc(dl.bytes);
      metrics.downloadSeconds.observe(dl.ms / 1000);
      const check = await checkAdapterDir(temp, { baseModel: model, maxRank: opts.maxLoraRank });
      if (!check.ok) throw new AgentFailure(422, "invalid_adapter", `${req.source}: ${check.message}`);
      if (req.sha256 && req.sha256 !== check.weightsSha256)
        throw checksumMismatch(req.sha256, check.weightsSha256);
      entry = await cache.commit(temp, {
        loraName: name,
        tenant: req.tenant,
        adapter: req.adapter,
        version: req.version,
        source: req.source,
        weightsSha256: check.weightsSha256,
        bytes: check.bytes,
        createdAt: Date.now(),
      });
    } catch (err) {
      await cache.discard(temp);
      throw err;
    } finally {
      held.reservation?.release();
    }
    const { alreadyLoaded, ms } = await engineLoad(entry);
    return result(entry, {
      cached: false,
      already_loaded: alreadyLoaded,
      download_ms: downloadMs,
      load_ms: ms,
    });
  }

  /** Unloads from the engine, then deletes from disk. If the engine cannot be told, nothing is removed. */
  function remove(name: string): Promise<RemoveResult> {
    return lock.run(name, async () => {
      const entry = cache.get(name);
      if (!entry) throw new AgentFailure(404, "not_found", `no adapter '${name}' on this agent`);
      const unloaded = await engine.unload(name);
      cache.setLoaded(entry, false);
      await cache.remove(name);
      logger.info({ lora_name: name }, "adapter removed");
      return { lora_name: name, unloaded, removed: true };
    });
  }

  async function loadLocked(req: LoadRequest, name: string, prefix: string): Promise<LoadResult> {
    const entry = cache.get(name);
    const hit = entry ? await fromDisk(entry, req) : undefined;
    return hit ?? download(req, name, prefix);
  }

  return {
    async load(req: LoadRequest): Promise<LoadResult> {
      metrics.loadsInFlight.inc();
      try {
        const gate = checkAdapterSource(req.source, req.tenant, opts.bucket);
        if (!gate.ok) {
          const malformed = !/^s3:\/\/[^/]+\/.+/.test(req.source);
          throw new AgentFailure(
            malformed ? 400 : 403,
            malformed ? "invalid_source" : "source_outside_tenant",
            `source '${req.source}' rejected for tenant '${req.tenant}': ${gate.reason}`,
          );
        }
        const name = loraName(req.tenant, req.adapter, req.version);
        const key = [name, req.source, req.sha256 ?? ""].join("\0");
        const flight = flights.do(key, async () => {
          loadingTenants.set(name, req.tenant);
          try {
            return await lock.run(name, () => loadLocked(req, name, gate.prefix));
          } finally {
            loadingTenants.delete(name);
          }
        });
        const r = await flight.promise;
        metrics.loads.inc({
          result: r.already_loaded ? "already_loaded" : r.cached ? "disk_hit" : "downloaded",
        });
        return r;
      } catch (err) {
        const f = asFailure(err);
        if (f.status >= 500)
          logger.warn({ err: (err as Error).message, tenant: req.tenant }, "adapter load failed");
        metrics.loads.inc({ result: f.code });
        throw f;
      } finally {
        metrics.loadsInFlight.dec();
      }
    },

    list(): AgentAdapter[] {
      return cache
        .list()
        .sort((a, b) => b.lastUsed - a.lastUsed)
        .map((e) => ({
          lora_name: e.loraName,
          tenant: e.tenant,
          adapter: e.adapter,
          version: e.version,
          bytes: e.bytes,
          last_used: new Date(e.lastUsed).toISOString(),
          loaded: e.loaded,
        }));
    },

    remove,

    /** Erasure: every adapter of the tenant, including one whose load is in progress right now. */
    async eraseTenant(tenant: string): Promise<EraseResult> {
      const names = new Set(
        cache
          .list()
          .filter((e) => e.tenant === tenant)
          .map((e) => e.loraName),
      );
      for (const [name, t] of loadingTenants) if (t === tenant) names.add(name);
      let removed = 0;
      for (const name of names) {
        try {
          await remove(name);
          removed++;
        } catch (err) {
          const f = asFailure(err);
          if (f.code === "not_found") continue; // its load failed meanwhile: nothing to erase
          throw new AgentFailure(
            f.status,
            f.code,
            `erased ${removed} of ${names.size} adapters of tenant '${tenant}', then: ${f.message}`,
          );
        }
      }
      logger.info({ tenant, removed }, "tenant adapters erased");
      return { removed };
    },

    /** Re-registers an adapter the engine lost, from the disk cache; the caller holds its lock. */
    async reloadFromDisk(entry: CacheEntry): Promise<ReloadOutcome> {
      if (cache.get(entry.loraName) !== entry) return "gone";
      if (!(await cache.intact(entry))) {
        await cache.remove(entry.loraName);
        return "gone";
      }
      try {
        await engineLoad(entry);
        return "reloaded";
      } catch {
        return cache.get(entry.loraName) ? "failed" : "gone";
      }
    },
  };
}

export type AdapterManager = ReturnType<typeof createAdapterManager>;

function checksumMismatch(expected: string, actual: string): AgentFailure {
  return new AgentFailure(
    422,
    "checksum_mismatch",
    `adapter_model.safetensors has sha256 ${actual}, but the request expects ${expected}`,
  );
}
