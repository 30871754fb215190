// cache_salt separates prefix caches: the same prompt under one salt hits its own earlier
// blocks, never another salt's, and never the unsalted ones (the tenant gate for vLLM's prefix cache).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adapterDir, loadLora, MODEL, metric, post, type Sim, startSim } from "./harness.ts";

describe("engine simulator: prefix cache per cache_salt", () => {
  let sim: Sim;
  let dirs: Awaited<ReturnType<typeof adapterDir>>;
  // ~200 tokens: a dozen full 16-token blocks.
  const prompt = Array.from({ length: 200 }, (_, i) => `w${i % 37}`).join(" ");
  const send = (salt?: string, model = MODEL) =>
    post(`${sim.url}/v1/completions`, {
      model,
      prompt,
      max_tokens: 2,
      ...(salt ? { cache_salt: salt } : {}),
    }).then((r) => {
      expect(r.status).toBe(200);
      return r.json();
    });
  const hits = (salt: string) => metric(sim, "loraplex_sim_prefix_cache_hits_total", { cache_salt: salt });
  const queries = (salt: string) =>
    metric(sim, "loraplex_sim_prefix_cache_queries_total", { cache_salt: salt });

  beforeAll(async () => {
    dirs = await adapterDir("tuned");
    sim = await startSim(["--time-scale", "0"]);
    expect((await loadLora(sim, "tuned", dirs.path("tuned"))).status).toBe(200);
  });
  afterAll(async () => {
    await sim?.proc.stop();
    await dirs?.cleanup();
  });

  it("the same salt shares cached blocks; another salt never does", async () => {
    await send("tenant-a-salt");
    expect(await hits("tenant-a-salt")).toBe(0);
    expect(await queries("tenant-a-salt")).toBeGreaterThan(150);

    await send("tenant-a-salt");
    const aHits = await hits("tenant-a-salt");
    expect(aHits).toBeGreaterThan(150); // the whole prompt minus the partial last block

    await send("tenant-b-salt");
    expect(await hits("tenant-b-salt")).toBe(0);
    await send(); // no salt at all: its own namespace too
    expect(await hits("")).toBe(0);

    await send("tenant-b-salt");
    expect(await hits("tenant-b-salt")).toBe(aHits);
    expect(await hits("tenant-a-salt")).toBe(aHits);
    expect(await metric(sim, "vllm:prefix_cache_hits_total", { model_name: MODEL })).toBe(2 * aHits);
  });

  it("an adapter does not reuse the base model's blocks for the same salt", async () => {
    await send("tenant-c-salt");
    await send("tenant-c-salt", "tuned");
    expect(await hits("tenant-c-salt")).toBe(0);
  });
});
