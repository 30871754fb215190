// Flow control against a real engine simulator: one replica that runs one sequence at a time
// (--max-num-seqs 1, realistic timing), so any second request saturates the pool and queues in
// the router. The tenants' queues are small (depth 2, wait 1.5 s) to reach the limits quickly.
// Hooks are recorded in process, so the test sees exactly what metering would be told.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Hooks, Outcome, RequestContext } from "../../core/request-context.ts";
import { MODEL, type Stack, scrapeCounter, startStack, until } from "./harness.ts";

type Settled = { tenant: string; user?: string; outcome: Outcome };
const settled: Settled[] = [];
const hooks: Hooks = {
  admit: async () => {},
  settle: (ctx: RequestContext, outcome: Outcome) => {
    settled.push({ tenant: ctx.tenant.metadata.name, user: ctx.endUser, outcome });
  },
};

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    sharedReplicas: 1,
    dedicatedReplicas: 0,
    timeScale: 1,
    engineArgs: ["--max-num-seqs", "1", "--itl-ms", "10", "--ttft-ms", "20"],
    hooks,
    routerOptions: { batchLimit: 1 },
    sharedSpec: "  fairness: {maxQueueDepth: 2, maxQueueWaitSeconds: 1.5}",
  });
});
afterAll(async () => {
  await stack?.stop();
});
beforeEach(() => {
  settled.length = 0;
});

/** Settled requests that were sent to an engine replica (the outcome names it). */
const forwarded = () => settled.filter((s) => s.outcome.replica !== undefined).length;
const queueDepth = () => scrapeCounter(stack.metricsUrl, "loraplex_router_queue_depth");

/** A request that holds the engine's only slot for about `tokens` × 10 ms. */
function ask(tenant: string, tokens: number, extra: Record<string, unknown> = {}, signal?: AbortSignal) {
  return fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.keys[tenant]}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: "user", content: "hello" }],
      max_tokens: tokens,
      ignore_eos: true,
      ...extra,
    }),
    signal,
  });
}

/**
 * Fills the replica: one long streamed request (about 8 s) from initech running, and a second
 * (acme's) waiting inside the engine (flow control keeps one request per replica beyond the batch
 * limit there). `release()` ends both by disconnecting, so the tests never wait for them.
 */
async function occupy(): Promise<{ release(): Promise<void> }> {
  const abort = new AbortController();
  const blocker = (tenant: string) =>
    ask(tenant, 800, { stream: true }, abort.signal)
      .then((r) => r.text())
      .catch(() => "");
  const engine = stack.shared[0]!.engineUrl;
  // The previous test's blockers were ended by disconnecting; until the engine and the router
  // have both let go of them, a new one would queue in the router instead of in the engine.
  await until(async () => {
    const left = await Promise.all([
      scrapeCounter(engine, "vllm:num_requests_running"),
      scrapeCounter(engine, "vllm:num_requests_waiting"),
      scrapeCounter(stack.metricsUrl, "loraplex_router_replica_in_flight"),
      queueDepth(),
    ]);
    return left.every((n) => n === 0);
  }, "the engine and the router to be idle");
  const first = blocker(stack.initech);
  await until(
    async () => (await scrapeCounter(engine, "vllm:num_requests_running")) === 1,
    "the blocker to run",
  );
  // acme's: when it is released unserved its input charge is refunded to acme, never to initech,
  // so initech's counter only grows while the tests look at the order.
  const second = blocker(stack.acme);
  await until(
    async () => (await scrapeCounter(engine, "vllm:num_requests_waiting")) === 1,
    "the second to wait",
  );
  return {
    async release() {
      abort.abort();
      await Promise.all([first, second]);
    },
  };
}

describe("fair queue", () => {
  // First in the file: every counter starts at zero.
  it("serves a newly arrived tenant before another tenant's backlog", async () => {
    const busy = await occupy();
    const initech = [ask(stack.initech, 5), ask(stack.initech, 5)];
    await until(async () => (await queueDepth()) === 2, "initech's requests to queue");
    const acme = ask(stack.acme, 5);
    await until(async () => (await queueDepth()) === 3, "acme's request to queue");
    // Let the blocker stream a little more after acme's lift before ending it.
    const served = () =>
      scrapeCounter(
        stack.metricsUrl,
        "loraplex_router_dispatched_tokens_total",
        `tenant="${stack.initech}",type="output"`,
      );
    const atLift = await served();
    await until(async () => (await served()) > atLift, "more of the blocker's output");
    await busy.release();
    for (const r of await Promise.all([...initech, acme])) expect(r.status).toBe(200);
    // First come, first served would finish initech's two, then acme. The fair order lifts acme to
    // initech's counter on arrival; the blocker's output keeps streaming into initech's
    // counter, so acme is behind and goes next.
    const order = settled
      .filter((s) => s.outcome.status === "ok")
      .map((s) => (s.tenant === stack.acme ? "acme" : "initech"));
    expect(order).toEqual(["acme", "initech", "initech"]);
    expect(
      await scrapeCounter(
        stack.metricsUrl,
        "loraplex_router_queue_wait_seconds_count",
        `tenant="${stack.acme}"`,
      ),
    ).toBe(1);
  });

  it("answers 429 rate_limit_exceeded naming the queue once it is full, without reaching an engine", async () => {
    const busy = await occupy();
    const queued = [ask(stack.acme, 5), ask(stack.acme, 5)];
    await until(async () => (await queueDepth()) === 2, "two queued requests");
    const refused = await ask(stack.acme, 5);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as { error: { type: string; code: string; message: string } };
    expect(body.error.type).toBe("rate_limit_error");
    expect(body.error.code).toBe("rate_limit_exceeded");
    expect(body.error.message).toContain(`fair queue of tenant '${stack.acme}'`);
    expect(body.error.message).toContain("loraplex-system/shared");
    await busy.release();
    for (const r of await Promise.all(queued)) expect(r.status).toBe(200);
    // The two blockers and the two queued ones reached the engine; the refused one did not.
    await until(() => settled.length === 5, "every request to settle");
    expect(forwarded()).toBe(4);
    const rejected = settled.filter((s) => s.outcome.status === "rejected");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ tenant: stack.acme, outcome: { httpStatus: 429, promptTokens: 0 } });
    expect(
      await scrapeCounter(stack.metricsUrl, "loraplex_router_queue_dropped_total", 'reason="depth"'),
    ).toBe(1);
  });

  it("answers 429 once a request has waited the tenant's maximum", async () => {
    const busy = await occupy();
    const late = await ask(stack.acme, 5);
    expect(late.status).toBe(429);
    const body = (await late.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("rate_limit_exceeded");
    expect(body.error.message).toContain("did not reach an engine within 1.5 s");
    await busy.release();
    await until(() => settled.length === 3, "the blockers to settle");
    expect(forwarded()).toBe(2);
    expect(settled.find((s) => s.tenant === stack.acme && !s.outcome.replica)?.outcome).toMatchObject({
      status: "rejected",
      httpStatus: 429,
    });
  });

  it("drops a queued request whose client disconnects, at once and uncharged", async () => {
    const tokensBefore = await scrapeCounter(
      stack.metricsUrl,
      "loraplex_router_dispatched_tokens_total",
      `tenant="${stack.acme}"`,
    );
    const busy = await occupy();
    const abort = new AbortController();
    const gone = ask(stack.acme, 5, {}, abort.signal).catch((e: Error) => e);
    await until(async () => (await queueDepth()) === 1, "the request to queue");
    abort.abort();
    // It leaves the queue while the blocker still runs, not when a slot frees up.
    await until(async () => (await queueDepth()) === 0, "the queue to empty");
    expect(await scrapeCounter(stack.shared[0]!.engineUrl, "vllm:num_requests_running")).toBe(1);
    expect(await gone).toBeInstanceOf(Error);
    await until(
      () => settled.some((s) => s.tenant === stack.acme && !s.outcome.replica),
      "the disconnect to settle",
    );
    await busy.release();
    expect(settled.find((s) => s.tenant === stack.acme && !s.outcome.replica)?.outcome).toMatchObject({
      status: "client_disconnect",
      promptTokens: 0,
      completionTokens: 0,
    });
    await until(() => settled.length === 3, "the blockers to settle");
    expect(forwarded()).toBe(2);
    expect(
      await scrapeCounter(
        stack.metricsUrl,
        "loraplex_router_dispatched_tokens_total",
        `tenant="${stack.acme}"`,
      ),
    ).toBe(tokensBefore);
    expect(
      await scrapeCounter(stack.metricsUrl, "loraplex_router_queue_dropped_total", 'reason="disconnect"'),
    ).toBe(1);
  });
});
