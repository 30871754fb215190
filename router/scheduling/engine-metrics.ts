// Reads the few vLLM series the scheduler needs out of an engine's Prometheus text:
//   vllm:num_requests_running / vllm:num_requests_waiting (summed over model_name series),
//   vllm:kv_cache_usage_perc (vLLM < 0.10: vllm:gpu_cache_usage_perc; the largest series),
//   vllm:lora_requests_info{max_lora, running_lora_adapters, waiting_lora_adapters} whose value
//   is a timestamp — only the newest series is current.

export type EngineMetrics = {
  running: number;
  waiting: number;
  /** KV-cache usage, 0..1 (1 = full), or undefined when the engine does not report it. */
  kvUsage: number | undefined;
  maxLoras: number | undefined;
  /** Adapters with requests in flight at the newest lora_requests_info sample. */
  activeAdapters: string[];
};

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseLabels(text: string): Map<string, string> {
  const labels = new Map<string, string>();
  for (const m of text.matchAll(LABEL)) {
    labels.set(
      m[1]!,
      m[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c)),
    );
  }
  return labels;
}

function splitNames(v: string | undefined): string[] {
  return v ? v.split(",").filter((s) => s !== "") : [];
}

export function parseEngineMetrics(text: string): EngineMetrics {
  let running = 0;
  let waiting = 0;
  let kvUsage: number | undefined;
  let newest = Number.NEGATIVE_INFINITY;
  let info: Map<string, string> | undefined;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.lastIndexOf(" ");
    if (space < 0) continue;
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, line.indexOf(" "));
    if (
      name !== "vllm:num_requests_running" &&
      name !== "vllm:num_requests_waiting" &&
      name !== "vllm:kv_cache_usage_perc" &&
      name !== "vllm:gpu_cache_usage_perc" &&
      name !== "vllm:lora_requests_info"
    ) {
      continue;
    }
    const close = line.lastIndexOf("}");
    // A sample may carry a trailing timestamp: "<name>{...} <value> [<ts>]".
    const rest = line
      .slice(close >= 0 ? close + 1 : name.length)
      .trim()
      .split(/\s+/);
    const value = Number(rest[0]);
    if (!Number.isFinite(value)) continue;
    if (name === "vllm:num_requests_running") running += value;
    else if (name === "vllm:num_requests_waiting") waiting += value;
    else if (name === "vllm:kv_cache_usage_perc" || name === "vllm:gpu_cache_usage_perc")
      kvUsage = Math.max(kvUsage ?? 0, value);
    else if (value > newest && brace >= 0) {
      newest = value;
      info = parseLabels(line.slice(brace + 1, close));
    }
  }
  const maxLora = Number(info?.get("max_lora"));
  return {
    running,
    waiting,
    kvUsage,
    maxLoras: Number.isInteger(maxLora) && maxLora > 0 ? maxLora : undefined,
    activeAdapters: [
      ...new Set([
        ...splitNames(info?.get("running_lora_adapters")),
        ...splitNames(info?.get("waiting_lora_adapters")),
      ]),
    ],
  };
}
