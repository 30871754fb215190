// Hostile and sloppy request bodies against a real router process: every one is answered with a
// 4xx in OpenAI's error shape (or served, when it is merely unusual), never a 5xx, a crash or a hang.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, type Stack, startStack } from "./harness.ts";

const LIMIT = 64 * 1024;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ sharedReplicas: 1, dedicatedReplicas: 0, maxBodyBytes: LIMIT });
});
afterAll(async () => {
  await stack?.stop();
});

const ok = { model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 };

async function expectOpenAIError(r: Response, status: number, mention?: string): Promise<void> {
  const text = await r.text();
  expect(r.status, text).toBe(status);
  const body = JSON.parse(text) as {
    error: { message: string; type: string; param: unknown; code: unknown };
  };
  expect(typeof body.error.message).toBe("string");
  expect(typeof body.error.type).toBe("string");
  expect(body.error).toHaveProperty("param");
  expect(body.error).toHaveProperty("code");
  if (mention) expect(body.error.message + String(body.error.param)).toContain(mention);
}

describe("bad request bodies", () => {
  it.each([
    ["truncated JSON", '{"model":', undefined],
    ["not JSON at all", "model=x&messages=y", undefined],
    ["an array", "[]", undefined],
    ["a string", '"hello"', undefined],
    ["null", "null", undefined],
    ["empty", "", undefined],
    ["trailing garbage", `${JSON.stringify(ok)}}`, undefined],
  ])("rejects %s with 400", async (_name, body) => {
    const r = await stack.post(stack.acme, "/v1/chat/completions", body);
    const text = await r.clone().text();
    await expectOpenAIError(r, 400);
    // The parse error names a position, never a quote of the body.
    if (body.length > 4) expect(text).not.toContain(body.slice(0, 8));
  });

  it.each([
    ["model as a number", { ...ok, model: 42 }, "model"],
    ["messages as a string", { ...ok, messages: "hi" }, "messages"],
    [
      "message content as a number",
      { ...ok, messages: [{ role: "user", content: 5 }] },
      "messages[0].content",
    ],
    ["an unknown role", { ...ok, messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"],
    ["max_tokens as a string", { ...ok, max_tokens: "10" }, "max_tokens"],
    ["stream as a string", { ...ok, stream: "yes" }, "stream"],
    ["negative max_tokens", { ...ok, max_tokens: -1 }, "max_tokens"],
    ["negative temperature", { ...ok, temperature: -0.5 }, "temperature"],
    ["fractional max_tokens", { ...ok, max_tokens: 2.5 }, "max_tokens"],
    ["huge max_tokens exponent", { ...ok, max_tokens: 1e308 }, "max_tokens"],
    ["negative top_p", { ...ok, top_p: -1 }, "top_p"],
    ["no messages", { model: MODEL }, "messages"],
    ["no model", { messages: ok.messages }, "model"],
  ])("rejects %s with a 400 naming the field", async (_name, body, field) => {
    await expectOpenAIError(await stack.post(stack.acme, "/v1/chat/completions", body), 400, field);
  });

  it("rejects wrong types on completions and embeddings too", async () => {
    await expectOpenAIError(
      await stack.post(stack.acme, "/v1/completions", { model: MODEL, prompt: { text: "x" } }),
      400,
      "prompt",
    );
    await expectOpenAIError(
      await stack.post(stack.acme, "/v1/embeddings", { model: MODEL, input: 7 }),
      400,
      "input",
    );
    await expectOpenAIError(await stack.post(stack.acme, "/v1/embeddings", { model: MODEL }), 400, "input");
  });

  it("answers 413 for a body over the limit, declared or chunked", async () => {
    const huge = JSON.stringify({ ...ok, messages: [{ role: "user", content: "x".repeat(LIMIT * 4) }] });
    await expectOpenAIError(await stack.post(stack.acme, "/v1/chat/completions", huge), 413);
    const chunked = await rawChunked(`${stack.url}/v1/chat/completions`, stack.keys[stack.acme]!, huge);
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe("request_too_large");
  });

  it("rejects nesting too deep to forward with 400", async () => {
    const depth = 20_000;
    const body = `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"x":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    await expectOpenAIError(await stack.post(stack.acme, "/v1/chat/completions", body), 400);
  });

  it("serves odd but valid unicode and refuses unknown fields", async () => {
    const odd = [
      "\u0000nul and \u202Eright-to-left override",
      "lone surrogate \ud800 here",
      "emoji 👩‍👩‍👧 and combining é",
      "\uFEFFbyte-order mark inside",
    ];
    for (const content of odd) {
      const r = await stack.post(stack.acme, "/v1/chat/completions", {
        ...ok,
        messages: [{ role: "user", content }],
      });
      expect(r.status, content).toBe(200);
    }
    // Fields outside the engine allowlist are refused, naming the field (router/engine-params.ts).
    const unknown = await stack.post(stack.acme, "/v1/chat/completions", {
      ...ok,
      frobnicate: { deep: [1, 2] },
    });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { param: string } }).error.param).toBe("frobnicate");
    const bom = await stack.post(stack.acme, "/v1/chat/completions", `\uFEFF${JSON.stringify(ok)}`);
    expect(bom.status).toBe(200);
    // Bytes that are not UTF-8 at all become U+FFFD; the request is still well-formed JSON.
    const raw = Buffer.concat([
      Buffer.from(`{"model":"${MODEL}","max_tokens":2,"messages":[{"role":"user","content":"`),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}]}'),
    ]);
    const bytes = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.keys[stack.acme]}`, "content-type": "application/json" },
      body: raw,
    });
    expect(bytes.status).toBe(200);
  });

  it("answers wrong credentials, paths and methods in OpenAI's shape", async () => {
    await expectOpenAIError(await stack.post(undefined, "/v1/chat/completions", ok), 401);
    await expectOpenAIError(
      await stack.post(undefined, "/v1/chat/completions", ok, { authorization: "Bearer lpx-nope" }),
      401,
    );
    await expectOpenAIError(
      await stack.post(undefined, "/v1/chat/completions", ok, {
        authorization: "Bearer test-admin-token-0123456789abcdefghijklmnop",
      }),
      401,
    );
    await expectOpenAIError(await stack.post(stack.acme, "/v1/nowhere", ok), 404);
    await expectOpenAIError(await fetch(`${stack.url}/v1/chat/completions`), 405);
  });

  it("is still healthy and serving after all of that", async () => {
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    expect((await stack.post(stack.acme, "/v1/chat/completions", ok)).status).toBe(200);
    const metrics = await (await fetch(`${stack.metricsUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/loraplex_router_requests_total\{[^}]*status="5\d\d"/);
  });
});

/** A POST with Transfer-Encoding: chunked (no Content-Length), written in 16 KiB pieces. */
function rawChunked(url: string, key: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    for (let i = 0; i < body.length; i += 16_384) req.write(body.slice(i, i + 16_384));
    req.end();
  });
}
