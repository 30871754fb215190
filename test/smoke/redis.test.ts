import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createRedis } from "../../core/redis.ts";
import { uniqueName } from "../support/unique.ts";

// A capped counter: the same atomic check-and-increment shape the rate limiter relies on.
const CAPPED_INCR = `
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return {0, v} end
v = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, v}`;

describe("Redis (real server through ioredis)", () => {
  const key = `{${uniqueName("smoke")}}:counter`;
  let redis: Redis;

  beforeAll(() => {
    redis = createRedis(loadServiceConfig());
    redis.defineCommand("cappedIncr", { numberOfKeys: 1, lua: CAPPED_INCR });
  });
  afterAll(async () => {
    await redis.del(key);
    redis.disconnect();
  });

  it("runs a Lua script atomically under concurrency", async () => {
    const run = redis as Redis & {
      cappedIncr(k: string, by: number, cap: number, ttl: number): Promise<[number, number]>;
    };
    const results = await Promise.all(Array.from({ length: 50 }, () => run.cappedIncr(key, 3, 100, 60_000)));
    expect(results.filter(([ok]) => ok === 1)).toHaveLength(33);
    expect(Number(await redis.get(key))).toBe(99);
    expect(await redis.pttl(key)).toBeGreaterThan(0);
  });
});
