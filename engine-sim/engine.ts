// One simulated engine: the parts (adapters, scheduler, prefix cache, latency, faults, metrics)
// and the life of a sequence through them, shared by the completion and embedding endpoints:
// queue → GPU slot (+ swap-in) → adapter weights in CPU cache → prefix cache → prefill → tokens.
import { performance } from "node:perf_hooks";
import type { Logger } from "../core/log.ts";
import { sleep } from "../core/sleep.ts";
import { BatchScheduler, type Sequence } from "./batch-scheduler.ts";
import { EngineError, modelNotFound } from "./errors.ts";
import { Faults } from "./faults.ts";
import { LatencyModel } from "./latency-model.ts";
import { type Adapter, LoraRegistry } from "./lora-registry.ts";
import { EngineMetrics, type FinishReason } from "./metrics.ts";
import type { EngineSimOptions } from "./options.ts";
import { PrefixCache } from "./prefix-cache.ts";
import type { Prompt } from "./validation.ts";

export type Started = {
  seq: Sequence;
  /** What the output is derived from: the adapter's weights sha256, or "base". */
  identity: string;
  cachedTokens: number;
  signal: AbortSignal;
  firstTokenSeen: boolean;
  detach(): void;
};

export class Engine {
  readonly opts: EngineSimOptions;
  readonly log: Logger;
  readonly loras: LoraRegistry;
  readonly scheduler: BatchScheduler;
  readonly latency: LatencyModel;
  readonly prefix: PrefixCache;
  readonly faults: Faults;
  readonly metrics: EngineMetrics;

  constructor(opts: EngineSimOptions, log: Logger) {
    this.opts = opts;
    this.log = log;
    this.latency = new LatencyModel(opts);
    this.loras = new LoraRegistry({
      baseModel: opts.model,
      maxRank: opts.maxLoraRank,
      maxCpuLoras: opts.maxCpuLoras,
    });
    this.scheduler = new BatchScheduler({
      maxNumSeqs: opts.maxNumSeqs,
      maxLoras: opts.maxLoras,
      swapInMs: () => this.latency.swapInMs(),
    });
    this.loras.connect({
      invalidated: (name) => this.scheduler.invalidate(name),
      inUse: (name) => this.scheduler.inUse(name),
    });
    this.prefix = new PrefixCache(opts.kvCacheTokens);
    this.faults = new Faults(opts.faults);
    this.metrics = new EngineMetrics(opts, this.scheduler, this.loras);
  }

  /** The base model, or a registered adapter by lora name; anything else is vLLM's 404. */
  resolveModel(model: string | undefined): { served: string; adapter: Adapter | undefined } {
    if (model === undefined || model === this.opts.model)
      return { served: this.opts.model, adapter: undefined };
    const adapter = this.loras.get(model);
    if (!adapter) throw modelNotFound(model);
    return { served: model, adapter };
  }

  /** Rejects prompts (plus requested output) that do not fit --max-model-len, as vLLM does. */
  checkContext(promptTokens: number, maxTokens: number | undefined): void {
    const limit = this.opts.maxModelLen;
    if (promptTokens >= limit) {
      throw new EngineError(
        400,
        `This model's maximum context length is ${limit} tokens. However, your request has ${promptTokens} input tokens. Please reduce the length of the input messages.`,
      );
    }
    if (maxTokens !== undefined && promptTokens + maxTokens > limit) {
      throw new EngineError(
        400,
        `This model's maximum context length is ${limit} tokens. However, you requested ${maxTokens} output tokens and your prompt contains ${promptTokens} input tokens, for a total of ${promptTokens + maxTokens} tokens. Please reduce the length of the input prompt or the number of requested output tokens.`,
      );
    }
  }

  /**
   * Queues a sequence and waits until its prefill is done (its first token is due). Returns
   * undefined when the client went away first. The caller must call finish() on what it gets.
   */
  async begin(
    adapter: Adapter | undefined,
    prompt: Prompt,
    cacheSalt: string | undefined,
    signal: AbortSignal,
  ): Promise<Started | undefined> {
    const seq = this.scheduler.submit(adapter?.name ?? null, prompt.tokens.length);
    // A waiting sequence is dropped at once; a running one is ended by its handler via finish().
    const onAbort = () => {
      if (seq.state === "waiting") this.scheduler.finish(seq);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const detach = () => signal.removeEventListener("abort", onAbort);
    if (!(await seq.started)) {
      detach();
      return undefined;
    }
    const started: Started = {
      seq,
      identity: "base",
      cachedTokens: 0,
      signal,
      firstTokenSeen: false,
      detach,
    };
    try {
      this.metrics.queueTime.observe((performance.now() - seq.arrivedAt) / 1000);
      await sleep(seq.readyAt - performance.now(), signal);
      if (signal.aborted) return started;
      if (adapter) started.identity = await this.loras.ensureInCpu(adapter);
      const lookup = this.prefix.lookupAndInsert(prompt.tokens, cacheSalt, started.identity);
      this.metrics.prefixLookup(cacheSalt, lookup.queriedTokens, lookup.hitTokens);
      started.cachedTokens = lookup.hitTokens;
      await sleep(this.latency.firstTokenMs(prompt.tokens.length - lookup.hitTokens), signal);
    } catch (e) {
      this.finish(started, "abort");
      throw e;
    }
    return started;
  }

  /** Records that the sequence emitted `n` more tokens (the first one also ends TTFT). */
  emitted(s: Started, n: number): void {
    if (!s.firstTokenSeen && n > 0) {
      s.firstTokenSeen = true;
      this.metrics.ttft.observe((performance.now() - s.seq.arrivedAt) / 1000);
    }
    s.seq.generatedTokens += n;
  }

  finish(s: Started, reason: FinishReason): void {
    if (s.seq.state === "done") return;
    s.detach();
    this.scheduler.finish(s.seq);
    this.metrics.promptTokens.inc(s.seq.promptTokens);
    this.metrics.generationTokens.inc(s.seq.generatedTokens);
    this.metrics.e2e.observe((performance.now() - s.seq.arrivedAt) / 1000);
    this.metrics.finished(reason);
  }
}
