// --api-key, as vLLM's: the /v1 routes need the bearer key; /health and /metrics do not.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, post, type Sim, startSim } from "./harness.ts";

describe("engine simulator: --api-key", () => {
  let sim: Sim;

  beforeAll(async () => {
    sim = await startSim(["--time-scale", "0", "--api-key", "engine-secret"]);
  });
  afterAll(async () => {
    await sim?.proc.stop();
  });

  it("rejects /v1 calls without the key with vLLM's 401 body", async () => {
    const res = await post(`${sim.url}/v1/chat/completions`, { messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Unauthorized" });
    const wrong = await fetch(`${sim.url}/v1/models`, { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    expect((await post(`${sim.url}/v1/load_lora_adapter`, { lora_name: "a", lora_path: "/x" })).status).toBe(
      401,
    );
  });

  it("serves callers that present it, and leaves /health and /metrics open", async () => {
    const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "engine-secret", maxRetries: 0 });
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "x" }],
      max_tokens: 2,
    });
    expect(r.usage?.completion_tokens).toBe(2);
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
    expect((await fetch(`${sim.url}/metrics`)).status).toBe(200);
  });
});
