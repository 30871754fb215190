// A dedicated redis-server is killed for real: capped tenants are refused with a 503 that says
// why (never served on per-process counters), a tenant with failOpen is served, and every one of
// those requests still leaves its usage event (written straight to Postgres meanwhile).
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { ApiError } from "../../core/errors.ts";
import { createRedis } from "../../core/redis.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import { parsePriceTable } from "../../metering/prices.ts";
import { createSpool, type Spool } from "../../metering/spool.ts";
import { createUsageStore } from "../../metering/usage-store.ts";
import { createMeteringHooks, type MeteringHooks } from "../../router/metering/hooks.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { type DedicatedRedis, startDedicatedRedis } from "../support/throwaway-servers.ts";
import { ctxFor, log, ok, PRICES, tenant } from "./harness.ts";

describe("Redis unreachable (dedicated redis-server, killed)", () => {
  let server: DedicatedRedis;
  let redis: Redis;
  let db: TestDb;
  let spool: Spool;
  let hooks: MeteringHooks;

  beforeAll(async () => {
    server = await startDedicatedRedis();
    redis = createRedis(loadServiceConfig({ ...process.env, REDIS_URL: server.url }));
    redis.on("error", () => {});
    db = await testDb("redis_down");
    const store = createUsageStore(db.pool);
    const keys = createKeySpace({ prefix: "t:" });
    spool = createSpool({
      redis,
      stream: keys.spool(),
      log,
      fallback: async (rows) => void (await store.write(rows)),
      retryMs: 50,
    });
    hooks = createMeteringHooks({
      redis,
      keys,
      prices: parsePriceTable(PRICES),
      spool,
      log,
      redisTimeoutMs: 300,
      // The lenient tenant's settlement fails while Redis is down; its retries (1.2 s and 5 s apart
      // by default) would only make the test wait before the reservation is left to lapse.
      settleRetryMs: [20, 20, 20],
    });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
    await db?.cleanup();
  });

  it("fails closed for capped tenants, open where configured, and still meters every request", async () => {
    const capped = tenant("capped", { limits: { dailySpendUSD: 10, requestsPerMinute: 100 } });
    const lenient = tenant("lenient", { limits: { dailySpendUSD: 10, failOpen: true } });
    const unlimited = tenant("unlimited");
    const first = ctxFor(capped);
    await hooks.admit(first);
    hooks.settle(first, ok(10, 10));
    await hooks.idle();

    await server.stop();
    for (let i = 0; i < 100 && redis.status === "ready"; i++) await new Promise((r) => setTimeout(r, 20));

    const refused = ctxFor(capped);
    const err = await hooks.admit(refused).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect((err as ApiError).code).toBe("limits_unavailable");
    expect((err as ApiError).message).toMatch(/limits store is unreachable/);
    expect((err as ApiError).headers["retry-after"]).toBeDefined();

    const open = ctxFor(lenient);
    await hooks.admit(open);
    hooks.settle(open, ok(10, 10));
    const free = ctxFor(unlimited);
    await hooks.admit(free);
    hooks.settle(free, ok(10, 10));
    await hooks.idle();

    // idle() returns only once the spool has handed the events over: to Postgres here, as Redis
    // is gone (a drain that finds Redis reconnecting is retried, not left to a timer).
    const { rows } = await db.pool.query<{ request_id: string; status: string; reason: string }>(
      "SELECT request_id, status, reason FROM usage_events WHERE request_id = ANY($1) ORDER BY ts",
      [[refused.requestId, open.requestId, free.requestId]],
    );
    expect(spool.buffered()).toBe(0);
    expect(rows).toEqual([
      { request_id: refused.requestId, status: "rejected", reason: "limits_unavailable" },
      { request_id: open.requestId, status: "ok", reason: "" },
      { request_id: free.requestId, status: "ok", reason: "" },
    ]);
  });
});
