// vLLM's runtime LoRA API on the simulator: load/unload texts and errors, PEFT validation,
// /v1/models cards, load_inplace, and the --max-cpu-loras cache (evicted adapters stay
// registered and are re-read from disk on their next request, as in vLLM).
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeAdapter } from "../../core/peft.ts";
import { adapterDir, loadLora, MODEL, metric, post, type Sim, startSim } from "./harness.ts";

type ModelCard = { id: string; object: string; parent: string | null; root: string; owned_by: string };
type ErrorBody = { error: { message: string; type: string; code: number } };

describe("engine simulator: runtime LoRA API", () => {
  let sim: Sim;
  let dirs: Awaited<ReturnType<typeof adapterDir>>;
  const models = async () =>
    ((await (await fetch(`${sim.url}/v1/models`)).json()) as { data: ModelCard[] }).data;
  const unload = (name: unknown) => post(`${sim.url}/v1/unload_lora_adapter`, { lora_name: name });
  const reply = async (model: string) => {
    const r = await post(`${sim.url}/v1/completions`, {
      model,
      prompt: "identify yourself",
      max_tokens: 8,
      ignore_eos: true,
    });
    return { status: r.status, body: (await r.json()) as { choices: { text: string }[] } & ErrorBody };
  };

  beforeAll(async () => {
    dirs = await adapterDir("a1", "a2", "a3", "a4", "e1", "e2", "e3");
    await writeAdapter(join(dirs.root, "other-base"), { baseModel: "some-other-model", seed: "x" });
    await writeAdapter(join(dirs.root, "rank-128"), { baseModel: MODEL, rank: 128, seed: "y" });
    await writeAdapter(join(dirs.root, "corrupt"), { baseModel: MODEL, seed: "z" });
    await writeFile(
      join(dirs.root, "corrupt", "adapter_model.safetensors"),
      Buffer.from("not a safetensors file"),
    );
    sim = await startSim([
      "--time-scale",
      "0",
      "--max-loras",
      "1",
      "--max-cpu-loras",
      "2",
      "--max-lora-rank",
      "64",
    ]);
  });
  afterAll(async () => {
    await sim?.proc.stop();
    await dirs?.cleanup();
  });

  it("loads an adapter: 200 text, then a /v1/models card with parent and root", async () => {
    const res = await loadLora(sim, "a1", dirs.path("a1"));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("Success: LoRA adapter 'a1' added successfully.");
    const list = await models();
    expect(list[0]).toMatchObject({ id: MODEL, object: "model", parent: null, owned_by: "vllm" });
    expect(list.find((m) => m.id === "a1")).toMatchObject({
      object: "model",
      parent: MODEL,
      root: dirs.path("a1"),
    });
    expect((await reply("a1")).status).toBe(200);
  });

  it("refuses a second load of the same name unless load_inplace, which swaps the weights", async () => {
    const again = await loadLora(sim, "a1", dirs.path("a1"));
    expect(again.status).toBe(400);
    const e = ((await again.json()) as ErrorBody).error;
    expect(e.message).toBe(
      "The lora adapter 'a1' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.",
    );
    expect(e.type).toBe("InvalidUserInput");

    const before = (await reply("a1")).body.choices[0]!.text;
    expect((await loadLora(sim, "a2", dirs.path("a2"))).status).toBe(200);
    const a2Text = (await reply("a2")).body.choices[0]!.text;
    expect(a2Text).not.toBe(before);
    const inplace = await loadLora(sim, "a1", dirs.path("a2"), { load_inplace: true });
    expect(inplace.status).toBe(200);
    expect((await reply("a1")).body.choices[0]!.text).toBe(a2Text);
    expect((await loadLora(sim, "a1", dirs.path("a1"), { load_inplace: true })).status).toBe(200);
    expect((await reply("a1")).body.choices[0]!.text).toBe(before);
  });

  it("rejects missing fields (400), a missing path (404) and invalid PEFT adapters (400)", async () => {
    const missing = await post(`${sim.url}/v1/load_lora_adapter`, { lora_name: "x" });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as ErrorBody).error.message).toBe(
      "Both 'lora_name' and 'lora_path' must be provided.",
    );

    const nowhere = await loadLora(sim, "x", join(dirs.root, "does-not-exist"));
    expect(nowhere.status).toBe(404);
    const nf = ((await nowhere.json()) as ErrorBody).error;
    expect(nf).toMatchObject({ type: "NotFoundError", code: 404 });
    expect(nf.message).toBe(
      `Loading lora x failed: No adapter found for ${join(dirs.root, "does-not-exist")}`,
    );

    for (const [dir, why] of [
      ["other-base", /base model 'some-other-model'/],
      ["rank-128", /rank 128/],
      ["corrupt", /safetensors/],
    ] as const) {
      const res = await loadLora(sim, `bad-${dir}`, join(dirs.root, dir));
      expect(res.status).toBe(400);
      const err = ((await res.json()) as ErrorBody).error;
      expect(err.type).toBe("BadRequestError");
      expect(err.message).toMatch(why);
    }
    expect((await models()).map((m) => m.id)).not.toContain("bad-other-base");
    expect(
      await metric(sim, "loraplex_sim_lora_api_requests_total", { operation: "load", status: "404" }),
    ).toBe(1);
  });

  it("unloads: 200 text, 404 for an unknown name, 400 without a name; the model is gone", async () => {
    expect((await loadLora(sim, "a3", dirs.path("a3"))).status).toBe(200);
    const res = await unload("a3");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("Success: LoRA adapter 'a3' removed successfully.");
    const again = await unload("a3");
    expect(again.status).toBe(404);
    expect(((await again.json()) as ErrorBody).error).toMatchObject({
      message: "The lora adapter 'a3' cannot be found.",
      type: "NotFoundError",
      code: 404,
    });
    expect((await unload(undefined)).status).toBe(400);
    expect((await models()).map((m) => m.id)).not.toContain("a3");
    const gone = await reply("a3");
    expect(gone.status).toBe(404);
    expect(gone.body.error.message).toBe("The model `a3` does not exist.");
  });

  it("evicts weights from the --max-cpu-loras cache LRU, keeps the adapter registered, re-reads it from disk", async () => {
    for (const n of ["e1", "e2", "e3"]) expect((await loadLora(sim, n, dirs.path(n))).status).toBe(200);
    expect(await metric(sim, "loraplex_sim_cpu_cached_adapters")).toBe(2);
    const ids = (await models()).map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["a1", "a2", "e1", "e2", "e3"]));

    // e1 was evicted (least recently used): serving it reads its weights from disk again.
    const loadsBefore = await metric(sim, "loraplex_sim_lora_disk_loads_total");
    const first = await reply("e1");
    expect(first.status).toBe(200);
    expect(await metric(sim, "loraplex_sim_lora_disk_loads_total")).toBe(loadsBefore + 1);
    // Now e1 is cached: no further disk read, and the output is the same.
    expect((await reply("e1")).body.choices[0]!.text).toBe(first.body.choices[0]!.text);
    expect(await metric(sim, "loraplex_sim_lora_disk_loads_total")).toBe(loadsBefore + 1);

    // An evicted adapter whose files vanished fails like vLLM's reload: not found.
    expect((await reply("e3")).status).toBe(200); // cache now holds e1, e3; e2 is evicted
    await rm(dirs.path("e2"), { recursive: true });
    const lost = await reply("e2");
    expect(lost.status).toBe(404);
    expect(lost.body.error.message).toContain("No adapter found");
  });
});
