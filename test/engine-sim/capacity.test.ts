// Capacity as vLLM has it: --max-loras distinct adapters in the running batch (others wait for
// a slot and pay a swap-in), --max-num-seqs running sequences (others queue), all visible in
// vllm:num_requests_waiting and vllm:lora_requests_info. Waits are observed through metrics,
// never timed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adapterDir,
  loadLora,
  MODEL,
  metric,
  post,
  type Series,
  type Sim,
  scrape,
  startSim,
  until,
} from "./harness.ts";

/** Starts a long streaming completion and resolves once its first token has arrived. */
async function longStream(sim: Sim, model: string): Promise<{ abort(): void; done: Promise<unknown> }> {
  const res = await post(`${sim.url}/v1/completions`, {
    model,
    prompt: "go on forever",
    max_tokens: 4000,
    ignore_eos: true,
    stream: true,
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  expect(first.done).toBe(false);
  const done = (async () => {
    try {
      while (!(await reader.read()).done) {}
    } catch {}
  })();
  return { abort: () => void reader.cancel(), done };
}

/** The newest vllm:lora_requests_info series: vLLM's value is the time the series was last set. */
async function loraInfo(sim: Sim): Promise<Series["labels"]> {
  const series = await scrape(sim, "vllm:lora_requests_info");
  return series.reduce((a, b) => (b.value >= a.value ? b : a)).labels;
}

describe("engine simulator: GPU LoRA slots and the running batch", () => {
  let sim: Sim;
  let dirs: Awaited<ReturnType<typeof adapterDir>>;

  beforeAll(async () => {
    dirs = await adapterDir("first", "second");
    // Real (unscaled) pacing keeps the long streams going while the test looks at metrics.
    sim = await startSim([
      "--max-loras",
      "1",
      "--max-num-seqs",
      "2",
      "--itl-ms",
      "10",
      "--ttft-ms",
      "5",
      "--swap-in-ms",
      "5",
    ]);
    for (const n of ["first", "second"]) expect((await loadLora(sim, n, dirs.path(n))).status).toBe(200);
  });
  afterAll(async () => {
    await sim?.proc.stop();
    await dirs?.cleanup();
  });

  it("with --max-loras 1, a request for a second adapter waits until the first adapter's requests finish", async () => {
    const swapsBefore = await metric(sim, "loraplex_sim_lora_swap_ins_total");
    const a = await longStream(sim, "first");
    let bSettled = false;
    const b = post(`${sim.url}/v1/completions`, { model: "second", prompt: "hello", max_tokens: 3 }).then(
      async (r) => {
        bSettled = true;
        return { status: r.status, body: (await r.json()) as { model: string; choices: { text: string }[] } };
      },
    );
    await until(
      "the second adapter's request to wait",
      async () => (await metric(sim, "vllm:num_requests_waiting")) === 1,
    );
    const info = await loraInfo(sim);
    expect(info).toEqual({ max_lora: "1", running_lora_adapters: "first", waiting_lora_adapters: "second" });
    expect(await metric(sim, "vllm:num_requests_running", { model_name: MODEL })).toBe(1);
    expect(await metric(sim, "loraplex_sim_resident_adapters")).toBe(1);
    expect(bSettled).toBe(false);

    a.abort(); // the first adapter's only request ends; its slot frees
    const got = await b;
    expect(got.status).toBe(200);
    expect(got.body.model).toBe("second");
    await a.done;
    expect(await metric(sim, "loraplex_sim_lora_swap_ins_total")).toBe(swapsBefore + 2);
    await until("the batch to drain", async () => (await metric(sim, "vllm:num_requests_running")) === 0);
    expect(await loraInfo(sim)).toEqual({
      max_lora: "1",
      running_lora_adapters: "",
      waiting_lora_adapters: "",
    });
  });

  it("requests for the adapter already in the slot run alongside without a swap-in", async () => {
    const a = await longStream(sim, "second");
    const swaps = await metric(sim, "loraplex_sim_lora_swap_ins_total");
    const res = await post(`${sim.url}/v1/completions`, { model: "second", prompt: "more", max_tokens: 2 });
    expect(res.status).toBe(200);
    expect(await metric(sim, "loraplex_sim_lora_swap_ins_total")).toBe(swaps);
    a.abort();
    await a.done;
  });

  it("beyond --max-num-seqs, requests queue and show in vllm:num_requests_waiting", async () => {
    await until("an empty batch", async () => (await metric(sim, "vllm:num_requests_running")) === 0);
    const a = await longStream(sim, MODEL);
    const b = await longStream(sim, MODEL);
    let cSettled = false;
    const c = post(`${sim.url}/v1/completions`, { model: MODEL, prompt: "queued", max_tokens: 2 }).then(
      (r) => {
        cSettled = true;
        return r.status;
      },
    );
    await until("a queued request", async () => (await metric(sim, "vllm:num_requests_waiting")) === 1);
    expect(await metric(sim, "vllm:num_requests_running")).toBe(2);
    expect(await metric(sim, "vllm:kv_cache_usage_perc")).toBeGreaterThan(0);
    expect(cSettled).toBe(false);
    a.abort();
    expect(await c).toBe(200);
    b.abort();
    await Promise.all([a.done, b.done]);
    await until("the queue to drain", async () => (await metric(sim, "vllm:num_requests_waiting")) === 0);
  });

  it("a client that gives up while queued leaves the queue", async () => {
    await until("an empty batch", async () => (await metric(sim, "vllm:num_requests_running")) === 0);
    const a = await longStream(sim, MODEL);
    const b = await longStream(sim, MODEL);
    const ac = new AbortController();
    const queued = fetch(`${sim.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: "impatient", max_tokens: 2 }),
      signal: ac.signal,
    }).catch(() => "aborted");
    await until("a queued request", async () => (await metric(sim, "vllm:num_requests_waiting")) === 1);
    ac.abort();
    expect(await queued).toBe("aborted");
    await until(
      "the abandoned request to leave the queue",
      async () => (await metric(sim, "vllm:num_requests_waiting")) === 0,
    );
    expect(await metric(sim, "vllm:num_requests_running")).toBe(2);
    a.abort();
    b.abort();
    await Promise.all([a.done, b.done]);
  });
});
