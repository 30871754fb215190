import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "../../core/errors.ts";
import type { RequestContext } from "../../core/request-context.ts";
import { parsePriceTable } from "../../metering/prices.ts";
import { createSpool, fieldOf, type SpoolEntry } from "../../metering/spool.ts";
import { createMeteringHooks, type MeteringHooks } from "../../router/metering/hooks.ts";
import { ctxFor, log, ok, PRICES, type TestRedis, tenant, testRedis } from "./harness.ts";

async function rejection(p: Promise<void>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error("expected a rejection");
}

describe("rate limits and concurrency (real Redis, Lua)", () => {
  let r: TestRedis;
  let hooks: MeteringHooks;
  let second: MeteringHooks; // a second router's hooks on its own connection

  beforeAll(() => {
    r = testRedis("limits");
    const make = (redis = r.redis) =>
      createMeteringHooks({
        redis,
        keys: r.keys,
        prices: parsePriceTable(PRICES),
        spool: createSpool({ redis, stream: r.keys.spool(), log }),
        log,
      });
    hooks = make();
    const other = r.redis.duplicate();
    second = make(other);
  });
  afterAll(async () => {
    await hooks.idle();
    await second.idle();
    await r.cleanup();
  });

  it("answers 429 with Retry-After and OpenAI's x-ratelimit headers past the requests per minute", async () => {
    const t = tenant("rpm-co", { limits: { requestsPerMinute: 3 } });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const ctx = ctxFor(t);
      await hooks.admit(ctx);
      seen.push(hooks.responseHeaders(ctx)["x-ratelimit-remaining-requests"]!);
      hooks.settle(ctx, ok(10, 10));
    }
    expect(seen).toEqual(["2", "1", "0"]);
    const err = await rejection(hooks.admit(ctxFor(t)));
    expect(err.status).toBe(429);
    expect(err.type).toBe("rate_limit_error");
    expect(err.code).toBe("rate_limit_exceeded");
    expect(Number(err.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(err.headers["x-ratelimit-limit-requests"]).toBe("3");
    expect(err.headers["x-ratelimit-remaining-requests"]).toBe("0");
    expect(err.headers["x-ratelimit-reset-requests"]).toMatch(/^(\d+m)?\d+(ms|s)$/);
    expect(err.message).toMatch(/requests per minute/);
  });

  it("reserves max tokens up front and refunds what was not used", async () => {
    const t = tenant("tpm-co", { limits: { tokensPerMinute: 1000 } });
    const ctxs: RequestContext[] = [];
    for (let i = 0; i < 3; i++) {
      const ctx = ctxFor(t, { promptTokensEstimate: 100, maxOutputTokens: 200 });
      await hooks.admit(ctx);
      ctxs.push(ctx);
    }
    const err = await rejection(hooks.admit(ctxFor(t, { promptTokensEstimate: 100, maxOutputTokens: 200 })));
    expect(err.status).toBe(429);
    expect(err.headers["x-ratelimit-limit-tokens"]).toBe("1000");
    expect(Number(err.headers["x-ratelimit-remaining-tokens"])).toBeLessThan(300);
    expect(err.message).toMatch(/tokens per minute/);
    for (const ctx of ctxs) hooks.settle(ctx, ok(20, 30));
    await hooks.idle();
    await hooks.admit(ctxFor(t, { promptTokensEstimate: 100, maxOutputTokens: 200 }));
  });

  it("refuses a request larger than the whole token limit without a Retry-After", async () => {
    const t = tenant("big-co", { limits: { tokensPerMinute: 500 } });
    const err = await rejection(hooks.admit(ctxFor(t, { promptTokensEstimate: 100, maxOutputTokens: 1000 })));
    expect(err.status).toBe(429);
    expect(err.code).toBe("request_too_large");
    expect(err.headers["retry-after"]).toBeUndefined();
  });

  it("limits concurrent requests and frees the slot at settlement", async () => {
    const t = tenant("conc-co", { limits: { maxConcurrent: 2 } });
    const a = ctxFor(t);
    const b = ctxFor(t);
    await hooks.admit(a);
    await second.admit(b);
    const err = await rejection(hooks.admit(ctxFor(t)));
    expect(err.status).toBe(429);
    expect(err.message).toMatch(/concurrent/);
    second.settle(b, ok(1, 1));
    await second.idle();
    await hooks.admit(ctxFor(t));
  });

  it("applies per-key and per-end-user limits on top of the tenant's", async () => {
    const t = tenant("scoped-co", {
      limits: { requestsPerMinute: 100, perUser: { requestsPerMinute: 1 }, perKey: { requestsPerMinute: 3 } },
    });
    await hooks.admit(ctxFor(t, { endUser: "alice" }));
    const err = await rejection(hooks.admit(ctxFor(t, { endUser: "alice" })));
    expect(err.message).toMatch(/this end user/);
    await hooks.admit(ctxFor(t, { endUser: "bob" }));
    await hooks.admit(ctxFor(t, { endUser: "carol" }));
    const keyErr = await rejection(hooks.admit(ctxFor(t, { endUser: "dave" })));
    expect(keyErr.message).toMatch(/this API key/);
    await hooks.admit(ctxFor(t, { endUser: "dave", keyId: "key_other" }));
  });

  it("holds the limit exactly across two routers under concurrency", async () => {
    const t = tenant("race-co", { limits: { requestsPerMinute: 20 } });
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? hooks : second).admit(ctxFor(t))),
    );
    expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(20);
  });

  it("refuses a model without a price and records one usage event per rejection", async () => {
    const t = tenant("unpriced-co", { models: ["base-8b", "mystery-70b"] });
    const err = await rejection(
      hooks.admit(ctxFor(t, { model: { requested: "mystery-70b", baseModel: "mystery-70b" } })),
    );
    expect(err.status).toBe(403);
    expect(err.code).toBe("model_not_priced");
    expect(err.message).toMatch(/mystery-70b/);
    // A request the router refused before admission (say, an invalid body) is metered too.
    hooks.rejected({
      requestId: "req-early",
      receivedAt: performance.now(),
      endpoint: "chat.completions",
      tenant: t,
      keyId: "key_test",
      model: "base-8b",
      httpStatus: 400,
      reason: "invalid_request",
    });
    await hooks.idle();
    const entries = await r.redis.xrange(r.keys.spool(), "-", "+");
    const events = entries.map(([, f]) => JSON.parse(fieldOf(f, "e")!) as SpoolEntry);
    const mine = events.filter((e) => e.tenant === "unpriced-co");
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatchObject({ status: "rejected", httpStatus: 403, reason: "model_not_priced" });
    expect(mine[1]).toMatchObject({
      status: "rejected",
      httpStatus: 400,
      reason: "invalid_request",
      requestId: "req-early",
    });
    const rejected = events.filter((e) => e.status === "rejected").map((e) => e.reason);
    expect(rejected).toContain("requests_limit_tenant");
    expect(rejected).toContain("concurrent_limit_tenant");
    expect(rejected).toContain("requests_limit_user");
  });
});
