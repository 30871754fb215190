// /metrics in Prometheus text. vLLM's metric names, labels (model_name, engine) and histogram
// buckets, so dashboards and the router's scraper work unchanged; the simulator's own numbers
// live under loraplex_sim_*. Gauges read live state at scrape time.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { BatchScheduler } from "./batch-scheduler.ts";
import type { LoraRegistry } from "./lora-registry.ts";

const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
  80.0, 160.0, 640.0, 2560.0,
];
const LATENCY_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
  960.0, 1920.0, 7680.0,
];
// vLLM adds a lora_requests_info series per distinct (running, waiting) pair and never drops
// any; the simulator keeps the newest ones only, so a long run does not grow without bound.
const MAX_LORA_INFO_SERIES = 64;

export type FinishReason = "stop" | "length" | "abort";

export class EngineMetrics {
  readonly registry = new Registry();
  readonly promptTokens;
  readonly generationTokens;
  readonly ttft;
  readonly e2e;
  readonly queueTime;
  private readonly success;
  private readonly prefixQueries;
  private readonly prefixHits;
  private readonly saltQueries;
  private readonly saltHits;
  private readonly loraApi;
  private readonly priorities;
  private readonly own: { model_name: string; engine: string };

  constructor(
    opts: { model: string; maxLoras: number; kvCacheTokens: number },
    scheduler: BatchScheduler,
    loras: LoraRegistry,
  ) {
    const registers = [this.registry];
    const labelNames = ["model_name", "engine"] as const;
    const own = { model_name: opts.model, engine: "0" };
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.set(own, read());
        },
      });
    const counter = (name: string, help: string) =>
      new Counter({ name, help, labelNames, registers }).labels(own);
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames, buckets, registers }).labels(own);

    gauge(
      "vllm:num_requests_running",
      "Number of requests in model execution batches.",
      () => scheduler.numRunning,
    );
    gauge(
      "vllm:num_requests_waiting",
      "Number of requests waiting to be processed.",
      () => scheduler.numWaiting,
    );
    gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", () =>
      Math.min(1, scheduler.kvTokens() / opts.kvCacheTokens),
    );
    this.promptTokens = counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.");
    this.generationTokens = counter("vllm:generation_tokens_total", "Number of generation tokens processed.");
    this.success = new Counter({
      name: "vllm:request_success_total",
      help: "Count of successfully processed requests.",
      labelNames: [...labelNames, "finished_reason"],
      registers,
    });
    this.prefixQueries = counter(
      "vllm:prefix_cache_queries_total",
      "Prefix cache queries, in terms of number of queried tokens.",
    );
    this.prefixHits = counter(
      "vllm:prefix_cache_hits_total",
      "Prefix cache hits, in terms of number of cached tokens.",
    );
    this.ttft = histogram(
      "vllm:time_to_first_token_seconds",
      "Histogram of time to first token in seconds.",
      TTFT_BUCKETS,
    );
    this.e2e = histogram(
      "vllm:e2e_request_latency_seconds",
      "Histogram of e2e request latency in seconds.",
      LATENCY_BUCKETS,
    );
    this.queueTime = histogram(
      "vllm:request_queue_time_seconds",
      "Histogram of time spent in WAITING phase for request.",
      LATENCY_BUCKETS,
    );

    const loraInfoSeries: string[][] = [];
    new Gauge({
      name: "vllm:lora_requests_info",
      help: "Running stats on lora requests.",
      labelNames: ["max_lora", "waiting_lora_adapters", "running_lora_adapters"],
      registers,
      collect() {
        const labels = [
          String(opts.maxLoras),
          scheduler.waitingAdapters().join(","),
          scheduler.runningAdapters().join(","),
        ];
        const at = loraInfoSeries.findIndex((l) => l.every((v, i) => v === labels[i]));
        if (at >= 0) loraInfoSeries.splice(at, 1);
        loraInfoSeries.push(labels);
        if (loraInfoSeries.length > MAX_LORA_INFO_SERIES) this.remove(...loraInfoSeries.shift()!);
        this.labels(...labels).setToCurrentTime();
      },
    });

    new Gauge({
      name: "loraplex_sim_resident_adapters",
      help: "Adapters holding one of the --max-loras GPU slots (running or idle).",
      registers,
      collect() {
        this.set(scheduler.residentAdapters().length);
      },
    });
    new Gauge({
      name: "loraplex_sim_cpu_cached_adapters",
      help: "Registered adapters whose weights are in the --max-cpu-loras CPU cache.",
      registers,
      collect() {
        this.set(loras.cpuResident().length);
      },
    });
    new Counter({
      name: "loraplex_sim_lora_swap_ins_total",
      help: "Adapters moved into a GPU slot they did not hold.",
      registers,
      collect() {
        this.reset();
        this.inc(scheduler.swapIns);
      },
    });
    new Counter({
      name: "loraplex_sim_lora_disk_loads_total",
      help: "Adapter weights read from disk: loads plus reloads after CPU-cache eviction.",
      registers,
      collect() {
        this.reset();
        this.inc(loras.diskLoads);
      },
    });
    this.saltQueries = new Counter({
      name: "loraplex_sim_prefix_cache_queries_total",
      help: "Prompt tokens looked up in the prefix cache, per cache_salt ('' when none).",
      labelNames: ["cache_salt"],
      registers,
    });
    this.saltHits = new Counter({
      name: "loraplex_sim_prefix_cache_hits_total",
      help: "Prompt tokens found in the prefix cache, per cache_salt ('' when none).",
      labelNames: ["cache_salt"],
      registers,
    });
    this.loraApi = new Counter({
      name: "loraplex_sim_lora_api_requests_total",
      help: "Calls to /v1/load_lora_adapter and /v1/unload_lora_adapter by HTTP status.",
      labelNames: ["operation", "status"],
      registers,
    });
    // Simulator behaviour, not vLLM's: the `priority` each request carried is counted, so a test
    // can read what the router set (the simulator schedules first come, first served).
    this.priorities = new Counter({
      name: "loraplex_sim_requests_by_priority_total",
      help: "Completion requests received, by the `priority` field they carried (0 when none).",
      labelNames: ["priority"],
      registers,
    });
    this.own = own;
  }

  received(priority: number): void {
    this.priorities.inc({ priority: String(priority) });
  }

  finished(reason: FinishReason): void {
    this.success.inc({ ...this.own, finished_reason: reason });
  }

  prefixLookup(salt: string | undefined, queried: number, hits: number): void {
    this.prefixQueries.inc(queried);
    this.prefixHits.inc(hits);
    this.saltQueries.inc({ cache_salt: salt ?? "" }, queried);
    this.saltHits.inc({ cache_salt: salt ?? "" }, hits);
  }

  loraApiCall(operation: "load" | "unload", status: number): void {
    this.loraApi.inc({ operation, status: String(status) });
  }
}
