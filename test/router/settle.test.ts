// The admit/settle contract on every path, with the router built in-process by createRouter()
// and a recording Hooks implementation injected (engines and agents are still real processes):
// settle runs exactly once per admitted request (success, upstream error, timeout, client
// disconnect), never for a request admit refused; and a client that goes away mid-stream gets
// the upstream request aborted (the simulator's running count drops back to zero).
import type { ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "../../core/errors.ts";
import type {
  AuditPayload,
  EarlyRejection,
  Hooks,
  Outcome,
  RequestContext,
} from "../../core/request-context.ts";
import { MODEL, type Stack, scrapeCounter, startStack, until } from "./harness.ts";

const admitted = new Set<string>();
/** The router's id is `<client x-request-id>-<8 hex>`; the tests know the client part. */
const clientId = (ctx: RequestContext) => ctx.requestId.replace(/-[0-9a-f]{8}$/, "");
const settled = new Map<string, { ctx: RequestContext; outcome: Outcome }[]>();
const early: EarlyRejection[] = [];
/** ctx.audit as settle saw it, for the requests that carried one. */
const payloads = new Map<string, AuditPayload>();
const hooks: Hooks = {
  async admit(ctx) {
    if (ctx.feature === "reject-me")
      throw new ApiError(429, "Rate limit reached.", { code: "rate_limit_exceeded" });
    admitted.add(clientId(ctx));
  },
  settle(ctx, outcome) {
    if (ctx.audit) payloads.set(clientId(ctx), ctx.audit);
    settled.set(clientId(ctx), [...(settled.get(clientId(ctx)) ?? []), { ctx, outcome }]);
  },
  rejected: (r) => early.push(r),
  responseHeaders: (ctx) => ({ "x-test-hook": clientId(ctx) }),
  wantsPayload: (ctx) => ctx.feature === "audit-me",
};

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    hooks,
    sharedReplicas: 2,
    dedicatedReplicas: 1,
    timeScale: 1,
    engineArgs: ["--ttft-ms", "5", "--itl-ms", "25"],
    // globex's dedicated engine sends its first token at once, then stalls far longer than the
    // router waits: a whole answer times out before its first byte, a stream after it.
    dedicatedEngineArgs: ["--ttft-ms", "5", "--itl-ms", "20000"],
    upstreamTimeoutMs: 600,
  });
});
afterAll(async () => {
  await stack?.stop();
});

const ask = [{ role: "user" as const, content: "Tell me a long story." }];
let n = 0;
const rid = (what: string) => `settle-${what}-${++n}`;

async function settledOnce(id: string): Promise<Outcome> {
  await until(() => settled.has(id), `settle for ${id}`);
  const calls = settled.get(id)!;
  expect(calls).toHaveLength(1);
  return calls[0]!.outcome;
}
const running = async () => {
  let sum = 0;
  for (const r of stack.shared) sum += await scrapeCounter(r.engineUrl, "vllm:num_requests_running");
  return sum;
};
/** A streamed request that runs its whole max_tokens: ignore_eos is a vLLM extension. */
function endless(model: string, maxTokens: number): ChatCompletionCreateParamsStreaming {
  const body = { model, messages: ask, max_tokens: maxTokens, stream: true as const, ignore_eos: true };
  return body;
}
const setFaults = (engineUrl: string, faults: object) =>
  fetch(`${engineUrl}/sim/faults`, { method: "POST", body: JSON.stringify(faults) });

describe("admit and settle", () => {
  it("settles a successful request once, with tokens, replica and TTFT", async () => {
    const id = rid("ok");
    const c = stack.client(stack.acme);
    await c.chat.completions.create(
      { model: "support-bot", messages: ask, max_tokens: 4 },
      { headers: { "x-request-id": id } },
    );
    const o = await settledOnce(id);
    expect(o).toMatchObject({ status: "ok", httpStatus: 200 });
    expect(o.completionTokens).toBeGreaterThan(0);
    expect(o.promptTokens).toBeGreaterThan(0);
    expect(stack.shared.map((r) => r.engineUrl)).toContain(o.replica);
    const sid = rid("ok-stream");
    const s = await c.chat.completions.create(
      { model: MODEL, messages: ask, max_tokens: 4, stream: true },
      { headers: { "x-request-id": sid } },
    );
    for await (const _ of s);
    const so = await settledOnce(sid);
    expect(so).toMatchObject({ status: "ok", httpStatus: 200 });
    expect(so.ttftMs).toBeGreaterThan(0);
    expect(so.completionTokens).toBeGreaterThan(0);
    expect(settled.get(sid)![0]!.ctx).toMatchObject({ stream: true, keyId: expect.any(String) });
  });

  it("does not settle a request that admit refused, and relays admit's error", async () => {
    const id = rid("rejected");
    const r = await stack.post(
      stack.acme,
      "/v1/chat/completions",
      { model: MODEL, messages: ask },
      {
        "x-request-id": id,
        "x-loraplex-feature": "reject-me",
      },
    );
    expect(r.status).toBe(429);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
    expect(admitted.has(id)).toBe(false);
    expect(settled.has(id)).toBe(false);
  });

  it("settles an upstream error once, after the single retry", async () => {
    for (const r of stack.shared) await setFaults(r.engineUrl, { fail_rate: 1, fail_status: 503 });
    try {
      const id = rid("upstream");
      const r = await stack.post(
        stack.acme,
        "/v1/chat/completions",
        { model: MODEL, messages: ask },
        { "x-request-id": id },
      );
      expect(r.status).toBe(502);
      expect(await settledOnce(id)).toMatchObject({ status: "upstream_error", httpStatus: 502 });
    } finally {
      for (const r of stack.shared) await setFaults(r.engineUrl, {});
    }
  });

  it("settles timeouts once: 504 before the first byte, an error event mid-stream", async () => {
    const id = rid("timeout");
    const r = await stack.post(
      stack.globex,
      "/v1/chat/completions",
      { model: MODEL, messages: ask },
      { "x-request-id": id },
    );
    expect(r.status).toBe(504);
    expect(await settledOnce(id)).toMatchObject({ status: "timeout", httpStatus: 504 });

    const sid = rid("timeout-stream");
    const s = await stack
      .client(stack.globex)
      .chat.completions.create(endless(MODEL, 64), { headers: { "x-request-id": sid } });
    let chunks = 0;
    await expect(async () => {
      for await (const _ of s) chunks++;
    }).rejects.toThrow(/timed out mid-stream/);
    expect(chunks).toBeGreaterThan(0);
    expect(await settledOnce(sid)).toMatchObject({ status: "timeout", httpStatus: 504 });
  });

  it("aborts the upstream request when the client disconnects mid-stream, and settles once", async () => {
    const id = rid("disconnect");
    const stream = await stack
      .client(stack.acme)
      .chat.completions.create(endless("support-bot", 60), { headers: { "x-request-id": id } });
    let chunks = 0;
    for await (const _ of stream) {
      if (++chunks < 3) continue;
      expect(await running()).toBe(1);
      break; // leaving the loop aborts the HTTP request
    }
    expect(chunks).toBe(3);
    const o = await settledOnce(id);
    expect(o.status).toBe("client_disconnect");
    expect(o.completionTokens).toBeGreaterThanOrEqual(2);
    await until(async () => (await running()) === 0, "the engines to drop the aborted request");
    // Still once, well after the fact.
    await new Promise((r) => setTimeout(r, 200));
    expect(settled.get(id)).toHaveLength(1);
  });

  it("uses the hooks' extras: early rejections, response headers, the conversation when asked", async () => {
    const id = rid("early");
    const r = await stack.post(
      stack.acme,
      "/v1/chat/completions",
      { model: "nope", messages: ask },
      { "x-request-id": id },
    );
    expect(r.status).toBe(404);
    expect(early.find((e) => e.requestId.startsWith(`${id}-`))).toMatchObject({
      tenant: expect.objectContaining({ metadata: expect.objectContaining({ name: stack.acme }) }),
      httpStatus: 404,
      model: "nope",
      reason: "model_not_found",
    });
    expect(settled.has(id)).toBe(false);

    const aid = rid("audited");
    const { data, response } = await stack
      .client(stack.acme)
      .chat.completions.create(
        { model: "support-bot", messages: ask, max_tokens: 5, stream: true },
        { headers: { "x-request-id": aid, "x-loraplex-feature": "audit-me" } },
      )
      .withResponse();
    expect(response.headers.get("x-test-hook")).toBe(aid);
    let text = "";
    for await (const c of data) text += c.choices[0]?.delta?.content ?? "";
    await settledOnce(aid);
    const p = payloads.get(aid)!;
    expect(p.response).toBe(text);
    expect(p.prompt).toEqual([{ role: "system", content: "You are Acme's assistant." }, ...ask]);
    // Requests nobody asked to audit are never read.
    expect(payloads.size).toBe(1);
  });

  it("settled every admitted request exactly once", () => {
    expect(admitted.size).toBeGreaterThan(0);
    for (const id of admitted) expect(settled.get(id), id).toHaveLength(1);
    expect([...settled.keys()].every((id) => admitted.has(id))).toBe(true);
  });
});
