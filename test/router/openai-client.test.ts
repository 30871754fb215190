// The official `openai` client against a real `loraplex router` process, with engine
// simulators and adapter agents as real processes: base-model and adapter calls, streamed and
// not, usage injection/stripping, and the router's response headers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, type Stack, startStack } from "./harness.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const ask = [{ role: "user" as const, content: "Where is my order?" }];

describe("router with the openai client", () => {
  it("answers a base-model chat completion under the client's model name, with usage", async () => {
    const r = await stack
      .client(stack.acme)
      .chat.completions.create({ model: MODEL, messages: ask, max_tokens: 8 });
    expect(r.model).toBe(MODEL);
    expect(r.choices[0]?.message.content).toBeTruthy();
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
    expect(r.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it("answers through an adapter and never shows the engine-side lora name", async () => {
    const { data, response } = await stack
      .client(stack.acme)
      .chat.completions.create({ model: "support-bot", messages: ask, max_tokens: 8 })
      .withResponse();
    expect(data.model).toBe("support-bot");
    const raw = JSON.stringify(data);
    expect(raw).not.toContain(`${stack.acme}--`);
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(response.headers.get("x-loraplex-overhead-ms"))).toBeGreaterThanOrEqual(0);
  });

  it("gives the latest version for a bare adapter name and the pinned one for name@version", async () => {
    const c = stack.client(stack.acme);
    const latest = await c.chat.completions.create({ model: "support-bot", messages: ask, max_tokens: 12 });
    const v2 = await c.chat.completions.create({ model: "support-bot@2", messages: ask, max_tokens: 12 });
    const v1 = await c.chat.completions.create({ model: "support-bot@1", messages: ask, max_tokens: 12 });
    expect(v2.model).toBe("support-bot@2");
    expect(v1.model).toBe("support-bot@1");
    // The simulator's output depends on the adapter's bytes: v2 answers like `support-bot`, v1 does not.
    expect(latest.choices[0]?.message.content).toBe(v2.choices[0]?.message.content);
    expect(v1.choices[0]?.message.content).not.toBe(v2.choices[0]?.message.content);
  });

  it("streams an adapter's tokens, strips the usage chunk it injected upstream", async () => {
    const stream = await stack
      .client(stack.acme)
      .chat.completions.create({ model: "support-bot", messages: ask, max_tokens: 6, stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => c.model === "support-bot")).toBe(true);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).not.toBe("");
  });

  it("keeps the usage chunk when the client asked for it", async () => {
    const stream = await stack.client(stack.globex).chat.completions.create({
      model: "support-bot",
      messages: ask,
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBeGreaterThan(0);
    expect(last.model).toBe("support-bot");
  });

  it("serves legacy completions, streamed and not", async () => {
    const c = stack.client(stack.acme);
    const r = await c.completions.create({ model: "support-bot@1", prompt: "Hello", max_tokens: 4 });
    expect(r.model).toBe("support-bot@1");
    expect(r.choices[0]?.text).toBeTruthy();
    const s = await c.completions.create({ model: MODEL, prompt: "Hello", max_tokens: 4, stream: true });
    let text = "";
    for await (const chunk of s) text += chunk.choices[0]?.text ?? "";
    expect(text).not.toBe("");
  });

  it("serves embeddings for base models and adapters", async () => {
    const r = await stack.client(stack.globex).embeddings.create({ model: "support-bot", input: ["a", "b"] });
    expect(r.model).toBe("support-bot");
    expect(r.data).toHaveLength(2);
    expect(r.data[0]?.embedding.length).toBeGreaterThan(0);
  });

  it("accepts a sane x-request-id, replaces an unsafe one, and logs neither prompt nor completion", async () => {
    const secret = "prompt-text-that-must-not-be-logged";
    const { data, response } = await stack
      .client(stack.acme)
      .chat.completions.create(
        { model: MODEL, messages: [{ role: "user", content: secret }], max_tokens: 4 },
        { headers: { "x-request-id": "trace-abc.123" } },
      )
      .withResponse();
    expect(response.headers.get("x-request-id")).toBe("trace-abc.123");
    const bad = await stack.post(
      stack.acme,
      "/v1/chat/completions",
      { model: MODEL, messages: ask, max_tokens: 2 },
      {
        "x-request-id": "<script>alert(1)</script>",
      },
    );
    expect(bad.status).toBe(200);
    expect(bad.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const log = stack.routerLog();
    // The router's own id starts with the client's and stays unique: `<client id>-<8 hex>`.
    expect(log).toMatch(/"reqId":"trace-abc\.123-[0-9a-f]{8}"/);
    expect(log).toContain(`"tenant":"${stack.acme}"`);
    expect(log).not.toContain(secret);
    expect(log).not.toContain(data.choices[0]!.message.content!);
  });

  it("keeps request ids unique upstream when a client reuses one", async () => {
    const c = stack.client(stack.acme);
    const opts = { headers: { "x-request-id": "same-id" } };
    const [a, b] = await Promise.all([
      c.chat.completions.create({ model: MODEL, messages: ask, max_tokens: 2 }, opts).withResponse(),
      c.chat.completions.create({ model: MODEL, messages: ask, max_tokens: 2 }, opts).withResponse(),
    ]);
    expect(a.response.headers.get("x-request-id")).toBe("same-id");
    expect(b.response.headers.get("x-request-id")).toBe("same-id");
    // The simulator, like vLLM, builds the completion id from the request id it was sent.
    expect(a.data.id).toContain("same-id-");
    expect(a.data.id).not.toBe(b.data.id);
  });

  it("routes the dedicated tenant to its own pool only", async () => {
    const before = await Promise.all(stack.shared.map((r) => requestsServed(r.engineUrl)));
    for (let i = 0; i < 4; i++) {
      await stack
        .client(stack.globex)
        .chat.completions.create({ model: MODEL, messages: ask, max_tokens: 2 });
    }
    const after = await Promise.all(stack.shared.map((r) => requestsServed(r.engineUrl)));
    expect(after).toEqual(before);
    expect(await requestsServed(stack.dedicated[0]!.engineUrl)).toBeGreaterThanOrEqual(4);
  });
});

async function requestsServed(engineUrl: string): Promise<number> {
  const text = await (await fetch(`${engineUrl}/metrics`)).text();
  let n = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("vllm:request_success_total{")) n += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return n;
}
