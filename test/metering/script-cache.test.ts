// The admission and settlement scripts are sent by SHA-1; Redis forgets them on a restart or
// SCRIPT FLUSH. A dedicated redis-server (flushing the shared one would touch other suites)
// shows the router sending the source again and carrying on with the same counters.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createRedis } from "../../core/redis.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import { periodsAt } from "../../metering/budget.ts";
import { parsePriceTable } from "../../metering/prices.ts";
import { createSpool } from "../../metering/spool.ts";
import { createMeteringHooks, type MeteringHooks } from "../../router/metering/hooks.ts";
import { type DedicatedRedis, startDedicatedRedis } from "../support/throwaway-servers.ts";
import { ctxFor, log, ok, PRICES, tenant } from "./harness.ts";

describe("limits scripts after Redis forgot them (dedicated redis-server, SCRIPT FLUSH)", () => {
  let server: DedicatedRedis;
  let redis: Redis;
  let hooks: MeteringHooks;
  const keys = createKeySpace({ prefix: "t:" });

  beforeAll(async () => {
    server = await startDedicatedRedis();
    redis = createRedis(loadServiceConfig({ ...process.env, REDIS_URL: server.url }), {
      autoPipelining: true,
    });
    hooks = createMeteringHooks({
      redis,
      keys,
      prices: parsePriceTable(PRICES),
      spool: createSpool({ redis, stream: keys.spool(), log }),
      log,
    });
  });
  afterAll(async () => {
    await hooks?.idle();
    await redis?.quit();
    await server?.stop();
  });

  it("admits and settles before and after SCRIPT FLUSH, with one reservation each time", async () => {
    const t = tenant("flush-co", { limits: { dailySpendUSD: 10, maxConcurrent: 5 } });
    const day = keys.dayBudget("flush-co", periodsAt(Date.now()).day);
    const leases = keys.leases("flush-co", { kind: "tenant" });
    for (const flush of [false, true]) {
      if (flush) expect(await redis.script("FLUSH")).toBe("OK");
      const ctx = ctxFor(t);
      await hooks.admit(ctx);
      expect(await redis.zcard(leases)).toBe(1);
      hooks.settle(ctx, ok(100, 50));
      await hooks.idle();
      expect(await redis.zcard(leases)).toBe(0);
      expect(await redis.hget(day, "resv")).toBe("0");
    }
    // 100 prompt + 50 completion at $0.5 / $1.5 per 1k = $0.125, twice.
    expect(await redis.hget(day, "spent")).toBe("250000");
    expect(await redis.xlen(keys.spool())).toBe(2);
  });
});
