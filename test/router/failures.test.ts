// Engine replicas failing under a real router process: before the first response byte the
// request is retried once on the other replica; after it, the stream ends with an error and is
// never retried. Faults come from the simulator's own fault knobs (POST /sim/faults) and from
// stopping a simulator process.
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { replicaLabel } from "../../router/metrics.ts";
import { MODEL, type Stack, scrapeCounter, startStack, until } from "./harness.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ sharedReplicas: 2, dedicatedReplicas: 0 });
});
afterAll(async () => {
  await stack?.stop();
});
afterEach(async () => {
  for (const r of stack.shared) await setFaults(r.engineUrl, {});
  // A failed replica is skipped until its next health probe passes; start each test with both.
  for (const r of stack.shared)
    await until(() => healthy(r.engineUrl), `${r.engineUrl} to be routed to again`);
});

const ask = [{ role: "user" as const, content: "Is my parcel late?" }];

function setFaults(engineUrl: string, faults: Record<string, number>): Promise<Response> {
  return fetch(`${engineUrl}/sim/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(faults),
  });
}
const retries = () => scrapeCounter(stack.metricsUrl, "loraplex_router_upstream_retries_total");
const aborted = async () => {
  let n = 0;
  for (const r of stack.shared)
    n += await scrapeCounter(r.engineUrl, "vllm:request_success_total", 'finished_reason="abort"');
  return n;
};
const healthy = async (engineUrl: string) =>
  (await scrapeCounter(
    stack.metricsUrl,
    "loraplex_router_replica_healthy",
    `replica="${replicaLabel(engineUrl)}"`,
  )) === 1;

describe("replica failures", () => {
  it("retries on the other replica when one answers 5xx before the first byte", async () => {
    const [bad] = stack.shared;
    await setFaults(bad!.engineUrl, { fail_rate: 1, fail_status: 500 });
    const before = await retries();
    const c = stack.client(stack.acme);
    for (let i = 0; i < 6; i++) {
      const r = await c.chat.completions.create({ model: MODEL, messages: ask, max_tokens: 3 });
      expect(r.choices[0]?.message.content).toBeTruthy();
      const s = await c.chat.completions.create({
        model: "support-bot",
        messages: ask,
        max_tokens: 3,
        stream: true,
      });
      let text = "";
      for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? "";
      expect(text).not.toBe("");
    }
    expect(await retries()).toBeGreaterThan(before);
  });

  it("retries on the other replica when one's engine is down (connection refused)", async () => {
    const [down] = stack.shared;
    await down!.stopEngine();
    try {
      // Whether a request meets the refused connection (and is retried) or the health probe
      // takes the replica out first, no request may fail.
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          stack.client(stack.acme).chat.completions.create({ model: MODEL, messages: ask, max_tokens: 2 }),
        ),
      );
      for (const r of answers) expect(r.model).toBe(MODEL);
      await until(
        async () => !(await healthy(down!.engineUrl)),
        "the router to take the stopped replica out",
      );
    } finally {
      await down!.startEngine();
      await until(() => healthy(down!.engineUrl), "the restarted replica to be routed to again");
    }
  });

  it("ends a stream that breaks after the first byte with an error, without retrying", async () => {
    for (const r of stack.shared) await setFaults(r.engineUrl, { disconnect_rate: 1 });
    const [retriesBefore, abortedBefore] = [await retries(), await aborted()];
    const stream = await stack
      .client(stack.acme)
      .chat.completions.create({ model: MODEL, messages: ask, max_tokens: 30, stream: true });
    let chunks = 0;
    let error: unknown;
    try {
      for await (const _ of stream) chunks++;
    } catch (e) {
      error = e;
    }
    expect(chunks).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain("mid-stream");
    expect(await retries()).toBe(retriesBefore);
    // Exactly one engine saw (and lost) the request.
    await until(async () => (await aborted()) > abortedBefore, "the engine to record the cut request");
    expect(await aborted()).toBe(abortedBefore + 1);
  });

  it("answers 502 when the retry fails too, having tried each replica once", async () => {
    for (const r of stack.shared) await setFaults(r.engineUrl, { disconnect_rate: 1 });
    const before = await retries();
    const r = await stack.post(stack.acme, "/v1/chat/completions", {
      model: MODEL,
      messages: ask,
      max_tokens: 3,
    });
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: { type: string } }).error.type).toBe("server_error");
    expect(await retries()).toBe(before + 1);
  });

  it("passes an engine 4xx through with its status and without the engine-side lora name", async () => {
    const long = "word ".repeat(9000);
    const r = await stack.post(stack.acme, "/v1/chat/completions", {
      model: "support-bot",
      messages: [{ role: "user", content: long }],
    });
    const text = await r.text();
    expect(r.status, text).toBe(400);
    expect(text).not.toContain(`${stack.acme}--`);
    expect(JSON.parse(text).error.type).toBe("invalid_request_error");
  });
});

describe("cold start (issue 13, item 9)", () => {
  it("holds a request while every replica of the pool is starting, instead of a 503", async () => {
    // Both shared replicas restart their slow start: health probes fail for 3 s.
    for (const r of stack.shared) await setFaults(r.engineUrl, { slow_start_ms: 3_000 });
    try {
      for (const r of stack.shared)
        await until(async () => !(await healthy(r.engineUrl)), "replicas to be skipped");
      const r = await stack.post(stack.acme, "/v1/chat/completions", {
        model: MODEL,
        messages: ask,
        max_tokens: 2,
      });
      expect(r.status).toBe(200);
    } finally {
      for (const r of stack.shared) await setFaults(r.engineUrl, {});
    }
  });
});
