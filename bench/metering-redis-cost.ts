// Benchmark (not a test): what one gated request's Redis work costs — the admission script, the
// settlement script and the spool XADD, as the router sends them (auto-pipelined, 32 requests in
// flight) for a tenant with tenant/key/user limits and both spend caps. Prints CPU µs per
// request of this process and of its own Redis, and the Redis calls the scripts make per request
// (deterministic, unlike CPU time on a shared machine).
//
//   node bench/metering-redis-cost.ts [--requests 20000] [--only admit|settle|xadd]
import { parseArgs } from "node:util";
import { loadServiceConfig } from "../core/config.ts";
import { createRedis } from "../core/redis.ts";
import { createKeySpace, type ScopeRef } from "../core/redis-keys.ts";
import { createAdmission } from "../metering/admission.ts";
import { budgetKeys, periodsAt } from "../metering/budget.ts";
import type { LimitScope, RateLimits } from "../metering/limits.ts";
import { startDedicatedRedis } from "../test/support/throwaway-servers.ts";
import { cpuMs } from "./overhead-stack.ts";

const { values: flags } = parseArgs({
  options: { requests: { type: "string", default: "20000" }, only: { type: "string" } },
});
const N = Number(flags.requests);
const CONCURRENCY = 32;
const WARM = 2000;
const part = (p: string) => flags.only === undefined || flags.only === p;

const server = await startDedicatedRedis();
const redis = createRedis(loadServiceConfig({ ...process.env, REDIS_URL: server.url }), {
  autoPipelining: true,
});
const admission = createAdmission(redis);
const keys = createKeySpace({ schema: "bench_redis_cost" });
const scope = (ref: ScopeRef, limits: RateLimits): LimitScope => ({
  ref,
  limits,
  bucketKey: keys.rateBucket("t", ref),
  leaseKey: keys.leases("t", ref),
});
// Limits as overhead-stack.ts sets them: far above what the benchmark uses.
const scopes = [
  scope({ kind: "tenant" }, { requestsPerMinute: 1e8, tokensPerMinute: 2e9, maxConcurrent: 100_000 }),
  scope({ kind: "key", id: "k" }, { requestsPerMinute: 1e8, tokensPerMinute: 2e9 }),
  scope({ kind: "user", id: "u" }, { requestsPerMinute: 1e8, maxConcurrent: 100_000 }),
];
const caps = { dailyMicro: 1e12, monthlyMicro: 1e13 };
const budget = budgetKeys(keys, "t", periodsAt(Date.now()));
const event = "x".repeat(1200); // a usage event with its audit row, as JSON

async function request(i: number): Promise<void> {
  const id = `req-${i}`;
  if (part("admit")) {
    await admission.admit({
      id,
      scopes,
      tokens: 100,
      leaseMs: 600_000,
      budget: { keys: budget, caps, amountMicro: 20, reservationMs: 600_000 },
    });
  }
  const rest: Promise<unknown>[] = [];
  if (part("xadd")) rest.push(redis.xadd("bench-spool", "*", "t", "t", "m", "2026-12", "e", event));
  if (part("settle")) {
    rest.push(
      admission.settle({
        id,
        scopes,
        refundTokens: 50,
        budget: { keys: budget, caps, actualMicro: 10, thresholds: [50, 80, 100] },
      }),
    );
  }
  await Promise.all(rest);
}

try {
  for (let i = 0; i < WARM; i++) await request(i);
  const [node0, redis0] = [process.cpuUsage(), cpuMs(server.pid)];
  let next = WARM;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < WARM + N) await request(next++);
    }),
  );
  const node = process.cpuUsage(node0);
  const redisMs = cpuMs(server.pid) - redis0;
  let inner = 0;
  for (const line of (await redis.info("commandstats")).split("\n")) {
    if (!line.startsWith("cmdstat_") || /^cmdstat_(evalsha|eval|xadd|info|script):/.test(line)) continue;
    inner += Number(/calls=(\d+)/.exec(line)?.[1] ?? 0);
  }
  console.log(
    `${flags.only ?? "admit + settle + xadd"}, ${N} requests, ${CONCURRENCY} in flight: ` +
      `CPU µs/request: this process ${((node.user + node.system) / N).toFixed(1)}, Redis ${((redisMs * 1000) / N).toFixed(1)}; ` +
      `Redis calls inside the scripts per request ${(inner / (N + WARM)).toFixed(1)}`,
  );
} finally {
  await redis.quit();
  await server.stop();
}
