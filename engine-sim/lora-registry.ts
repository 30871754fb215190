// LoRA adapters as vLLM keeps them with runtime updating enabled:
//   - the registry (vLLM's `lora_requests`): every adapter loaded through the API and not
//     unloaded; this is what /v1/models lists. It is not bounded.
//   - the CPU cache (--max-cpu-loras): adapter weights held in host memory, LRU. An adapter
//     evicted from it stays registered; the next request for it reads the weights from its
//     path again (and fails if the files are gone), exactly as vLLM's worker reloads it.
// GPU slots (--max-loras) are the batch scheduler's business.
import { checkAdapterDir } from "../core/peft.ts";
import { EngineError } from "./errors.ts";

export type Adapter = {
  name: string;
  path: string;
  /** vLLM's lora_int_id: kept across load_inplace. */
  id: number;
  created: number;
  rank: number;
  /** Identity of the weights last read from disk: sha256 of adapter_model.safetensors. */
  weightsSha256: string;
};

export type RegistryEvents = {
  /** An adapter's weights changed (load_inplace) or it was unloaded: GPU copies are stale. */
  invalidated(name: string): void;
  /** Whether running sequences use the adapter; such adapters are never evicted to make room. */
  inUse(name: string): boolean;
};

export class LoraRegistry {
  private readonly registered = new Map<string, Adapter>();
  private readonly cpu = new Map<string, true>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  private nextId = 1;
  /** Successful weight reads from disk: loads plus reloads after CPU-cache eviction. */
  diskLoads = 0;

  private readonly opts: { baseModel: string; maxRank: number; maxCpuLoras: number };
  private events: RegistryEvents = { invalidated() {}, inUse: () => false };

  constructor(opts: { baseModel: string; maxRank: number; maxCpuLoras: number }) {
    this.opts = opts;
  }

  /** Wires the GPU side (the batch scheduler), which is built after the registry. */
  connect(events: RegistryEvents): void {
    this.events = events;
  }

  get(name: string): Adapter | undefined {
    return this.registered.get(name);
  }

  list(): Adapter[] {
    return [...this.registered.values()];
  }

  cpuResident(): string[] {
    return [...this.cpu.keys()];
  }

  load(name: string, path: string, inplace: boolean): Promise<string> {
    return this.serialized(name, async () => {
      const existing = this.registered.get(name);
      if (existing && !inplace) {
        throw new EngineError(
          400,
          `The lora adapter '${name}' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.`,
          "InvalidUserInput",
        );
      }
      const check = await this.readWeights(name, path);
      const adapter: Adapter = {
        name,
        path,
        id: existing?.id ?? this.nextId++,
        created: Math.floor(Date.now() / 1000),
        rank: check.rank,
        weightsSha256: check.sha256,
      };
      this.registered.set(name, adapter);
      if (existing) this.events.invalidated(name);
      this.cacheInCpu(name);
      return `Success: LoRA adapter '${name}' added successfully.`;
    });
  }

  unload(name: string): Promise<string> {
    return this.serialized(name, async () => {
      if (!this.registered.delete(name)) {
        throw new EngineError(404, `The lora adapter '${name}' cannot be found.`, "NotFoundError");
      }
      this.cpu.delete(name);
      this.events.invalidated(name);
      return `Success: LoRA adapter '${name}' removed successfully.`;
    });
  }

  /**
   * Makes sure a request's adapter weights are in the CPU cache, re-reading them from disk when
   * they were evicted, and returns their identity.
   */
  async ensureInCpu(adapter: Adapter): Promise<string> {
    const current = this.registered.get(adapter.name) === adapter;
    if (current && this.cpu.has(adapter.name)) {
      this.cpu.delete(adapter.name);
      this.cpu.set(adapter.name, true);
      return adapter.weightsSha256;
    }
    await this.serialized(adapter.name, async () => {
      if (this.registered.get(adapter.name) === adapter && this.cpu.has(adapter.name)) return;
      const check = await this.readWeights(adapter.name, adapter.path);
      adapter.weightsSha256 = check.sha256;
      // A request may outlive its adapter's unload (as in vLLM); it must not re-register it.
      if (this.registered.get(adapter.name) === adapter) this.cacheInCpu(adapter.name);
    });
    return adapter.weightsSha256;
  }

  private async readWeights(name: string, path: string): Promise<{ sha256: string; rank: number }> {
    const check = await checkAdapterDir(path, { baseModel: this.opts.baseModel, maxRank: this.opts.maxRank });
    if (check.ok) {
      this.diskLoads++;
      return { sha256: check.weightsSha256, rank: check.config.r };
    }
    if (check.code === "not_found") {
      throw new EngineError(
        404,
        `Loading lora ${name} failed: No adapter found for ${path}`,
        "NotFoundError",
      );
    }
    throw new EngineError(400, `Loading lora ${name} failed: ${check.message}`, "BadRequestError");
  }

  private cacheInCpu(name: string): void {
    this.cpu.delete(name);
    this.cpu.set(name, true);
    for (const victim of this.cpu.keys()) {
      if (this.cpu.size <= this.opts.maxCpuLoras) break;
      if (victim !== name && !this.events.inUse(victim)) this.cpu.delete(victim);
    }
  }

  /** One operation per adapter name at a time, like vLLM's per-name lock. */
  private async serialized<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.inflight.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.inflight.set(name, settled);
    try {
      return await run;
    } finally {
      if (this.inflight.get(name) === settled) this.inflight.delete(name);
    }
  }
}
