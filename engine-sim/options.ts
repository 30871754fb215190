// Settings of one engine simulator instance. Flag names follow vLLM's (`--max-loras`,
// `--max-cpu-loras`, `--max-lora-rank`, `--max-num-seqs`, `--max-model-len`); the latency
// and fault knobs are the simulator's own.

export type FaultSettings = {
  /** Probability (0..1) that an inference request fails with `failStatus`. */
  failRate: number;
  failStatus: number;
  /** Probability (0..1) that a response is cut off midway (the socket is destroyed). */
  disconnectRate: number;
  /** /health answers 503 for this long after start (or after the knob is set at runtime). */
  slowStartMs: number;
};

export type EngineSimOptions = {
  host: string;
  /** 0 picks a free port; the URL returned by startEngineSim() carries the real one. */
  port: number;
  /** The served base model name; adapters must name it as `base_model_name_or_path`. */
  model: string;
  maxLoras: number;
  maxCpuLoras: number;
  maxLoraRank: number;
  maxNumSeqs: number;
  maxModelLen: number;
  /** KV cache size in tokens; drives vllm:kv_cache_usage_perc and the prefix cache's capacity. */
  kvCacheTokens: number;
  ttftMs: number;
  prefillMsPerToken: number;
  itlMs: number;
  /** Each delay is multiplied by a uniform factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
  /** Cost of moving an adapter into a GPU slot it does not occupy. */
  swapInMs: number;
  /** Multiplies every latency-model delay; 0 removes them all. */
  timeScale: number;
  embeddingDim: number;
  maxBodyBytes: number;
  /** Like vLLM's --api-key: /v1 routes then require `Authorization: Bearer <key>`. */
  apiKey: string | undefined;
  faults: FaultSettings;
  /** What POST /sim/crash does; the CLI exits the process with code 1. */
  onCrash: () => void;
};

export const DEFAULT_MAX_LORAS = 4;

export function resolveOptions(partial: Partial<EngineSimOptions> & { model: string }): EngineSimOptions {
  const maxLoras = partial.maxLoras ?? DEFAULT_MAX_LORAS;
  const opts: EngineSimOptions = {
    host: partial.host ?? "127.0.0.1",
    port: partial.port ?? 8000,
    model: partial.model,
    maxLoras,
    maxCpuLoras: partial.maxCpuLoras ?? maxLoras * 2,
    maxLoraRank: partial.maxLoraRank ?? 64,
    maxNumSeqs: partial.maxNumSeqs ?? 256,
    maxModelLen: partial.maxModelLen ?? 8192,
    kvCacheTokens: partial.kvCacheTokens ?? 262_144,
    ttftMs: partial.ttftMs ?? 20,
    prefillMsPerToken: partial.prefillMsPerToken ?? 0.05,
    itlMs: partial.itlMs ?? 10,
    jitter: partial.jitter ?? 0,
    swapInMs: partial.swapInMs ?? 25,
    timeScale: partial.timeScale ?? 1,
    embeddingDim: partial.embeddingDim ?? 256,
    maxBodyBytes: partial.maxBodyBytes ?? 4 * 1024 * 1024,
    apiKey: partial.apiKey || undefined,
    faults: { failRate: 0, failStatus: 500, disconnectRate: 0, slowStartMs: 0, ...partial.faults },
    onCrash: partial.onCrash ?? (() => process.exit(1)),
  };
  checkOptions(opts);
  return opts;
}

function checkOptions(o: EngineSimOptions): void {
  const problems: string[] = [];
  if (!o.model) problems.push("--model is required");
  const positiveInts: [string, number][] = [
    ["--max-loras", o.maxLoras],
    ["--max-cpu-loras", o.maxCpuLoras],
    ["--max-lora-rank", o.maxLoraRank],
    ["--max-num-seqs", o.maxNumSeqs],
    ["--max-model-len", o.maxModelLen],
    ["--kv-cache-tokens", o.kvCacheTokens],
    ["--embedding-dim", o.embeddingDim],
    ["--max-body-bytes", o.maxBodyBytes],
  ];
  for (const [flag, v] of positiveInts) {
    if (!Number.isInteger(v) || v < 1) problems.push(`${flag} must be a positive integer, got ${v}`);
  }
  // vLLM refuses a CPU LoRA cache smaller than the GPU slots.
  if (o.maxCpuLoras < o.maxLoras) {
    problems.push(`--max-cpu-loras (${o.maxCpuLoras}) must be >= --max-loras (${o.maxLoras})`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
    problems.push(`--port is invalid: ${o.port}`);
  const nonNegative: [string, number][] = [
    ["--ttft-ms", o.ttftMs],
    ["--prefill-ms-per-token", o.prefillMsPerToken],
    ["--itl-ms", o.itlMs],
    ["--swap-in-ms", o.swapInMs],
    ["--time-scale", o.timeScale],
  ];
  for (const [flag, v] of nonNegative) {
    if (!Number.isFinite(v) || v < 0) problems.push(`${flag} must be a number >= 0, got ${v}`);
  }
  if (!(o.jitter >= 0 && o.jitter <= 1)) problems.push(`--jitter must be within 0..1, got ${o.jitter}`);
  const faultProblem = checkFaults(o.faults);
  if (faultProblem) problems.push(faultProblem);
  if (problems.length) throw new Error(problems.join("; "));
}

/** Returns what is wrong with a set of fault knobs, or undefined when they are usable. */
export function checkFaults(f: FaultSettings): string | undefined {
  if (!(f.failRate >= 0 && f.failRate <= 1)) return `fail rate must be within 0..1, got ${f.failRate}`;
  if (!(f.disconnectRate >= 0 && f.disconnectRate <= 1)) {
    return `disconnect rate must be within 0..1, got ${f.disconnectRate}`;
  }
  if (!Number.isInteger(f.failStatus) || f.failStatus < 400 || f.failStatus > 599) {
    return `fail status must be an HTTP error status (400..599), got ${f.failStatus}`;
  }
  if (!(Number.isFinite(f.slowStartMs) && f.slowStartMs >= 0)) {
    return `slow start must be a number of milliseconds >= 0, got ${f.slowStartMs}`;
  }
  return undefined;
}
