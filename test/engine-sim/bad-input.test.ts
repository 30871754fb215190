// Bad input never crashes the simulator: every case gets a vLLM-shaped error
// {"error": {"message", "type", "param", "code"}} with the right status, and it keeps serving.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, post, type Sim, startSim } from "./harness.ts";

type ErrorBody = { error: { message: string; type: string; param: string | null; code: number } };

describe("engine simulator: bad input", () => {
  let sim: Sim;
  const chat = (body: unknown) => post(`${sim.url}/v1/chat/completions`, body);
  const msgs = [{ role: "user", content: "hi" }];

  beforeAll(async () => {
    sim = await startSim(["--time-scale", "0"]);
  });
  afterAll(async () => {
    await sim?.proc.stop();
  });

  async function expectError(
    res: Response,
    status: number,
    message: RegExp,
    param?: string | null,
  ): Promise<ErrorBody> {
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as ErrorBody;
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error.code).toBe(status);
    expect(typeof body.error.type).toBe("string");
    expect(body.error.message).toMatch(message);
    if (param !== undefined) expect(body.error.param).toBe(param);
    return body;
  }

  it("unknown model → 404 NotFoundError, as vLLM words it, also through the SDK", async () => {
    const body = await expectError(
      await chat({ model: "nope", messages: msgs }),
      404,
      /^The model `nope` does not exist\.$/,
      "model",
    );
    expect(body.error.type).toBe("NotFoundError");
    const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "unused", maxRetries: 0 });
    await expect(
      client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }),
    ).rejects.toMatchObject({
      status: 404,
    });
    await expectError(
      await post(`${sim.url}/v1/embeddings`, { model: "nope", input: "x" }),
      404,
      /does not exist/,
    );
  });

  it("malformed JSON, a non-object body and an empty body → 400", async () => {
    await expectError(await chat("{not json"), 400, /JSON decode error/);
    await expectError(await chat("[1,2]"), 400, /must be a JSON object/);
    await expectError(await chat(""), 400, /JSON decode error/);
    await expectError(await post(`${sim.url}/v1/load_lora_adapter`, "{"), 400, /JSON decode error/);
  });

  it("wrong types and out-of-range values → 400 naming the parameter", async () => {
    await expectError(await chat({ model: MODEL }), 400, /messages/, "messages");
    await expectError(await chat({ messages: "hi" }), 400, /messages/, "messages");
    await expectError(
      await chat({ messages: [{ role: "wizard", content: "x" }] }),
      400,
      /role/,
      "messages[0].role",
    );
    await expectError(await chat({ messages: [{ role: "user", content: 5 }] }), 400, /content/);
    await expectError(await chat({ messages: msgs, max_tokens: "ten" }), 400, /valid integer/, "max_tokens");
    await expectError(await chat({ messages: msgs, max_tokens: 2.5 }), 400, /valid integer/, "max_tokens");
    await expectError(
      await chat({ messages: msgs, max_tokens: -1 }),
      400,
      /^max_tokens must be at least 1, got -1\./,
      "max_tokens",
    );
    await expectError(await chat({ messages: msgs, max_tokens: 0 }), 400, /at least 1/, "max_tokens");
    await expectError(await chat({ messages: msgs, temperature: 5 }), 400, /temperature/, "temperature");
    await expectError(await chat({ messages: msgs, temperature: "hot" }), 400, /valid number/, "temperature");
    await expectError(await chat({ messages: msgs, stream: "yes" }), 400, /valid boolean/, "stream");
    await expectError(await chat({ messages: msgs, stop: 7 }), 400, /stop/, "stop");
    await expectError(await chat({ messages: msgs, seed: "x" }), 400, /valid integer/, "seed");
    await expectError(await chat({ messages: msgs, user: 3 }), 400, /valid string/, "user");
    await expectError(
      await chat({ messages: msgs, cache_salt: "" }),
      400,
      /cache_salt' must be a non-empty string/,
      "cache_salt",
    );
    await expectError(
      await chat({ messages: msgs, stream_options: { include_usage: true } }),
      400,
      /stream=True/,
    );
    await expectError(await chat({ messages: msgs, logprobs: true }), 400, /logprobs/);
    await expectError(await post(`${sim.url}/v1/completions`, { prompt: 42 }), 400, /prompt/, "prompt");
    await expectError(
      await post(`${sim.url}/v1/completions`, { prompt: ["a", "b"] }),
      400,
      /one prompt/,
      "prompt",
    );
    await expectError(await post(`${sim.url}/v1/embeddings`, { input: [] }), 400, /input/, "input");
    await expectError(
      await post(`${sim.url}/v1/embeddings`, { input: "x", encoding_format: "hex" }),
      400,
      /base64/,
    );
    await expectError(
      await post(`${sim.url}/v1/embeddings`, { input: "x", dimensions: 100_000 }),
      400,
      /dimensions/,
    );
  });

  it("n other than 1 → 400", async () => {
    await expectError(await chat({ messages: msgs, n: 2 }), 400, /^n must be 1/, "n");
    await expectError(await chat({ messages: msgs, n: 0 }), 400, /^n must be at least 1/, "n");
    await expectError(
      await post(`${sim.url}/v1/completions`, { prompt: "x", n: 3 }),
      400,
      /n must be 1/,
      "n",
    );
  });

  it("a body over the 4 MiB limit → 413 in the error shape", async () => {
    const huge = JSON.stringify({ messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }] });
    await expectError(await chat(huge), 413, /larger than/);
  });

  it("unknown routes and wrong methods get FastAPI's answers", async () => {
    const r404 = await fetch(`${sim.url}/v1/nothing`);
    expect(r404.status).toBe(404);
    expect(await r404.json()).toEqual({ detail: "Not Found" });
    const r405 = await fetch(`${sim.url}/v1/chat/completions`);
    expect(r405.status).toBe(405);
    expect(await r405.json()).toEqual({ detail: "Method Not Allowed" });
  });

  it("is still healthy and serving after all of the above", async () => {
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
    const ok = await chat({ messages: msgs, max_tokens: 2 });
    expect(ok.status).toBe(200);
    expect(sim.proc.child.exitCode).toBeNull();
  });
});
