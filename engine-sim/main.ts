// `loraplex engine-sim`: a vLLM-compatible engine simulator for tests and benchmarks without a GPU.
import { parseArgs } from "node:util";
import { numberFlag } from "../core/flags.ts";
import { createLogger } from "../core/log.ts";
import { DEFAULT_MAX_LORAS, type EngineSimOptions } from "./options.ts";
import { startEngineSim } from "./server.ts";

const USAGE = `usage: loraplex engine-sim --model NAME [options]

A simulator of vLLM's OpenAI-compatible server with runtime LoRA updating (no GPU).

  --host ADDR                 listen address (127.0.0.1)
  --port N                    listen port, 0 for any free one (8000)
  --model NAME                served base model name (required)
  --max-loras N               GPU LoRA slots: distinct adapters in the running batch (${DEFAULT_MAX_LORAS})
  --max-cpu-loras N           adapters whose weights stay in the CPU cache, LRU (2 x max-loras)
  --max-lora-rank N           largest accepted LoRA rank r (64)
  --max-num-seqs N            sequences running at once; others wait (256)
  --max-model-len N           context length in tokens (8192)
  --kv-cache-tokens N         simulated KV cache size in tokens (262144)
  --ttft-ms MS                time to first token, before prefill (20)
  --prefill-ms-per-token MS   prefill cost per uncached prompt token (0.05)
  --itl-ms MS                 inter-token latency (10)
  --jitter F                  random spread of every delay, 0..1 (0)
  --swap-in-ms MS             cost of moving an adapter into a GPU slot (25)
  --time-scale F              multiplies every latency delay; 0 = none (1)
  --embedding-dim N           embedding vector length (256)
  --max-body-bytes N          request body limit (4194304)
  --api-key KEY               require "Authorization: Bearer KEY" on /v1 routes (env VLLM_API_KEY)
  --fail-rate F               fraction of inference requests that fail (0)
  --fail-status N             HTTP status of those failures (500)
  --disconnect-rate F         fraction of responses cut off midway (0)
  --slow-start-ms MS          /health answers 503 for this long after start (0)

Runtime fault knobs: GET/POST /sim/faults {fail_rate, fail_status, disconnect_rate, slow_start_ms};
POST /sim/crash exits the process with status 1.`;

const NUMBER_FLAGS = {
  port: "port",
  "max-loras": "maxLoras",
  "max-cpu-loras": "maxCpuLoras",
  "max-lora-rank": "maxLoraRank",
  "max-num-seqs": "maxNumSeqs",
  "max-model-len": "maxModelLen",
  "kv-cache-tokens": "kvCacheTokens",
  "ttft-ms": "ttftMs",
  "prefill-ms-per-token": "prefillMsPerToken",
  "itl-ms": "itlMs",
  jitter: "jitter",
  "swap-in-ms": "swapInMs",
  "time-scale": "timeScale",
  "embedding-dim": "embeddingDim",
  "max-body-bytes": "maxBodyBytes",
} as const;
const FAULT_FLAGS = {
  "fail-rate": "failRate",
  "fail-status": "failStatus",
  "disconnect-rate": "disconnectRate",
  "slow-start-ms": "slowStartMs",
} as const;

/** Turns command-line flags into simulator options; throws with a readable message on bad input. */
export function parseEngineSimArgs(argv: string[]): Partial<EngineSimOptions> & { model: string } {
  const stringFlags = [...Object.keys(NUMBER_FLAGS), ...Object.keys(FAULT_FLAGS), "host", "model", "api-key"];
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(stringFlags.map((f) => [f, { type: "string" as const }])),
    strict: true,
    allowPositionals: false,
  });
  const num = (flag: string) => {
    const raw = values[flag];
    return numberFlag(`--${flag}`, typeof raw === "string" ? raw : undefined);
  };
  if (typeof values.model !== "string" || !values.model) throw new Error("--model is required");
  const opts: Partial<EngineSimOptions> & { model: string } = { model: values.model };
  if (typeof values.host === "string") opts.host = values.host;
  const apiKey = values["api-key"] ?? process.env.VLLM_API_KEY;
  if (typeof apiKey === "string" && apiKey) opts.apiKey = apiKey;
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const n = num(flag);
    if (n !== undefined) opts[key] = n;
  }
  const faults: Partial<EngineSimOptions["faults"]> = {};
  for (const [flag, key] of Object.entries(FAULT_FLAGS)) {
    const n = num(flag);
    if (n !== undefined) faults[key] = n;
  }
  return { ...opts, faults: { failRate: 0, failStatus: 500, disconnectRate: 0, slowStartMs: 0, ...faults } };
}

async function run(argv: string[]): Promise<number | undefined> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const log = createLogger("engine-sim");
  let sim: Awaited<ReturnType<typeof startEngineSim>>;
  try {
    sim = await startEngineSim({ port: 8000, ...parseEngineSimArgs(argv) }, log);
  } catch (e) {
    console.error(`loraplex engine-sim: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const o = sim.engine.opts;
  // Always printed, whatever LOG_LEVEL says: scripts read the URL from it (e.g. with --port 0).
  createLogger("engine-sim", "info").info(
    {
      url: sim.url,
      model: o.model,
      max_loras: o.maxLoras,
      max_cpu_loras: o.maxCpuLoras,
      max_num_seqs: o.maxNumSeqs,
    },
    "engine simulator listening",
  );
  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      log.info({ signal }, "shutting down");
      void sim.close().then(done);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}

export const engineSimCommand = {
  summary: "vLLM-compatible engine simulator (OpenAI API, runtime LoRA API, metrics, faults)",
  run,
};
