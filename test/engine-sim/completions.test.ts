// The OpenAI-compatible inference endpoints of the engine simulator, driven through the
// `openai` SDK (our reference client) and raw HTTP where the wire format itself matters.
import { cp } from "node:fs/promises";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenize } from "../../engine-sim/tokenizer.ts";
import { adapterDir, loadLora, MODEL, post, type Sim, sseEvents, startSim } from "./harness.ts";

describe("engine simulator: completions, chat and embeddings", () => {
  let sim: Sim;
  let client: OpenAI;
  let adapters: Awaited<ReturnType<typeof adapterDir>>;
  const ask = (model: string, content: string, extra: Record<string, unknown> = {}) =>
    client.chat.completions.create({ model, messages: [{ role: "user", content }], ...extra });

  beforeAll(async () => {
    adapters = await adapterDir("alpha", "beta");
    await cp(adapters.path("alpha"), join(adapters.root, "alpha-copy"), { recursive: true });
    sim = await startSim(["--time-scale", "0", "--max-model-len", "512", "--embedding-dim", "64"]);
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "unused", maxRetries: 0 });
    for (const [name, dir] of [
      ["alpha", adapters.path("alpha")],
      ["beta", adapters.path("beta")],
      ["alpha-copy", join(adapters.root, "alpha-copy")],
    ] as const) {
      expect((await loadLora(sim, name, dir)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await sim?.proc.stop();
    await adapters?.cleanup();
  });

  it("answers a chat completion shaped like vLLM's, echoing the requested model", async () => {
    const r = await ask("alpha", "Say hello");
    expect(r.object).toBe("chat.completion");
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.model).toBe("alpha");
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.message.role).toBe("assistant");
    expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(r.choices[0]!.finish_reason);
    const u = r.usage!;
    expect(u.total_tokens).toBe(u.prompt_tokens + u.completion_tokens);
    // Honest usage: the reply re-tokenizes to exactly the tokens it was charged for.
    expect(tokenize(r.choices[0]!.message.content!)).toHaveLength(u.completion_tokens);
  });

  it("output depends on the adapter's weights, the prompt and the seed, and on nothing else", async () => {
    const text = async (model: string, prompt: string, extra: Record<string, unknown> = {}) =>
      (await ask(model, prompt, extra)).choices[0]!.message.content;
    const alpha = await text("alpha", "What is the capital of France?");
    expect(await text("alpha", "What is the capital of France?")).toBe(alpha);
    expect(await text("beta", "What is the capital of France?")).not.toBe(alpha);
    expect(await text(MODEL, "What is the capital of France?")).not.toBe(alpha);
    expect(await text("alpha", "What is the capital of Spain?")).not.toBe(alpha);
    // Same weights under another name: same identity, same text.
    expect(await text("alpha-copy", "What is the capital of France?")).toBe(alpha);
    // Sampling: the seed matters at temperature > 0, never when greedy.
    const s1 = await text("alpha", "Tell me a story", { temperature: 0.8, seed: 1 });
    expect(await text("alpha", "Tell me a story", { temperature: 0.8, seed: 1 })).toBe(s1);
    expect(await text("alpha", "Tell me a story", { temperature: 0.8, seed: 2 })).not.toBe(s1);
    const g1 = await text("alpha", "Tell me a story", { temperature: 0, seed: 1 });
    expect(await text("alpha", "Tell me a story", { temperature: 0, seed: 2 })).toBe(g1);
  });

  it("honours max_tokens (finish_reason length), ignore_eos and stop strings", async () => {
    const short = await ask("beta", "Count", { max_tokens: 3 });
    expect(short.choices[0]!.finish_reason).toBe("length");
    expect(short.usage!.completion_tokens).toBe(3);

    const long = await ask("beta", "Count", { max_tokens: 100, ignore_eos: true } as Record<string, unknown>);
    expect(long.usage!.completion_tokens).toBe(100);

    const full = (
      await ask("beta", "Write words", { max_tokens: 40, ignore_eos: true } as Record<string, unknown>)
    ).choices[0]!.message.content!;
    const words = full.split(" ");
    const stop = ` ${words[5]}`;
    const cutAt = full.indexOf(stop);
    const stopped = await ask("beta", "Write words", {
      max_tokens: 40,
      ignore_eos: true,
      stop: [stop],
    } as Record<string, unknown>);
    expect(stopped.choices[0]!.message.content).toBe(full.slice(0, cutAt));
    expect(stopped.choices[0]!.finish_reason).toBe("stop");
    expect((stopped.choices[0] as unknown as { stop_reason: string }).stop_reason).toBe(stop);
  });

  it("streams chat chunks: a role chunk, content deltas, finish_reason, usage only when asked, [DONE]", async () => {
    const events = async (stream_options?: Record<string, unknown>) => {
      const res = await post(`${sim.url}/v1/chat/completions`, {
        model: "alpha",
        messages: [{ role: "user", content: "Stream please" }],
        stream: true,
        max_tokens: 12,
        ignore_eos: true,
        ...(stream_options ? { stream_options } : {}),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      return sseEvents(await res.text());
    };
    const plain = await events();
    expect(plain.done).toBe(true);
    type Chunk = {
      object: string;
      model: string;
      choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[];
      usage?: unknown;
    };
    const chunks = plain.events as unknown as Chunk[];
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "alpha")).toBe(true);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: "assistant", content: "" });
    const content = chunks.slice(1);
    expect(content).toHaveLength(12);
    expect(content.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null)).toBe(true);
    expect(content.at(-1)!.choices[0]!.finish_reason).toBe("length");
    expect(chunks.some((c) => c.usage)).toBe(false);

    const withUsage = await events({ include_usage: true });
    const last = withUsage.events.at(-1) as {
      choices: unknown[];
      usage: { completion_tokens: number; prompt_tokens: number };
    };
    expect(last.choices).toEqual([]);
    expect(last.usage.completion_tokens).toBe(12);
    // Streamed text equals the non-streamed text for the same request.
    const text = (withUsage.events as unknown as Chunk[])
      .map((c) => c.choices[0]?.delta.content ?? "")
      .join("");
    const whole = await ask("alpha", "Stream please", { max_tokens: 12, ignore_eos: true } as Record<
      string,
      unknown
    >);
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(last.usage.prompt_tokens).toBe(whole.usage!.prompt_tokens);
  });

  it("streams through the openai SDK with include_usage", async () => {
    const stream = await client.chat.completions.create({
      model: "beta",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 5,
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(usage?.completion_tokens).toBe(5);
    expect(tokenize(text)).toHaveLength(5);
  });

  it("serves /v1/completions whole and streamed, with honest prompt token counts", async () => {
    const prompt = "The quick brown fox jumps over the lazy dog.";
    const r = await client.completions.create({ model: "alpha", prompt, max_tokens: 7, echo: false });
    expect(r.object).toBe("text_completion");
    expect(r.id).toMatch(/^cmpl-/);
    expect(r.usage!.prompt_tokens).toBe(tokenize(prompt).length);
    expect(r.usage!.completion_tokens).toBe(7);

    const res = await post(`${sim.url}/v1/completions`, {
      model: "alpha",
      prompt,
      max_tokens: 7,
      stream: true,
      stream_options: { include_usage: true },
    });
    const { events, done } = sseEvents(await res.text());
    expect(done).toBe(true);
    const chunks = events as {
      object: string;
      choices: { text: string; finish_reason: string | null }[];
      usage?: { completion_tokens: number };
    }[];
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    expect(
      chunks
        .slice(0, -1)
        .map((c) => c.choices[0]!.text)
        .join(""),
    ).toBe(r.choices[0]!.text);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("length");
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(7);

    const echoed = await client.completions.create({ model: "alpha", prompt, max_tokens: 7, echo: true });
    expect(echoed.choices[0]!.text).toBe(prompt + r.choices[0]!.text);
    const ids = await client.completions.create({ model: MODEL, prompt: [1, 2, 3, 4, 5], max_tokens: 2 });
    expect(ids.usage!.prompt_tokens).toBe(5);
  });

  it("uses the caller's X-Request-Id in the response id", async () => {
    const res = await post(
      `${sim.url}/v1/chat/completions`,
      { model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: 1 },
      { "x-request-id": "trace-123" },
    );
    expect(((await res.json()) as { id: string }).id).toBe("chatcmpl-trace-123");
  });

  it("returns deterministic unit-length embeddings per adapter, as floats or base64", async () => {
    const a = await client.embeddings.create({ model: "alpha", input: ["hello world", "other"] });
    expect(a.object).toBe("list");
    expect(a.model).toBe("alpha");
    expect(a.data).toHaveLength(2);
    const v = a.data[0]!.embedding;
    expect(v).toHaveLength(64);
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    expect(a.usage.prompt_tokens).toBe(tokenize("hello world").length + tokenize("other").length);
    const again = await client.embeddings.create({ model: "alpha", input: "hello world" });
    expect(again.data[0]!.embedding).toEqual(v);
    const beta = await client.embeddings.create({ model: "beta", input: "hello world" });
    expect(beta.data[0]!.embedding).not.toEqual(v);
    const small = await client.embeddings.create({ model: "alpha", input: "hello world", dimensions: 8 });
    expect(small.data[0]!.embedding).toHaveLength(8);
    expect(Math.hypot(...small.data[0]!.embedding)).toBeCloseTo(1, 5);

    const res = await post(`${sim.url}/v1/embeddings`, {
      model: "alpha",
      input: "hello world",
      encoding_format: "base64",
    });
    const b64 = ((await res.json()) as { data: { embedding: string }[] }).data[0]!.embedding;
    const buf = Buffer.from(b64, "base64");
    const floats = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
    expect(floats).toEqual(v);
  });

  it("rejects a prompt that does not fit --max-model-len like vLLM", async () => {
    const long = "word ".repeat(600);
    const res = await post(`${sim.url}/v1/completions`, { model: MODEL, prompt: long });
    expect(res.status).toBe(400);
    const e = ((await res.json()) as { error: { message: string; code: number } }).error;
    expect(e.message).toContain("This model's maximum context length is 512 tokens");
    expect(e.code).toBe(400);
    const over = await post(`${sim.url}/v1/completions`, { model: MODEL, prompt: "short", max_tokens: 600 });
    expect(over.status).toBe(400);
  });
});
