// Benchmark (not a test): latency the metering hooks add on the request path.
//
//   node bench/metering-hot-path.ts [--requests 20000] [--concurrency 1,16]
//
// A redis-server of its own (so other users of the shared one do not skew it). Per request: hooks.admit() — price lookup, then ONE Lua call
// that checks tenant RPM/TPM/concurrency, per-key and per-user limits and both spend caps and
// takes the reservation — timed; then hooks.settle() (fire-and-forget: spool XADD + settlement
// Lua, off the request path). Limits are set high so nothing is refused. A tenant without any
// limits or caps is measured too (no Redis call at all). Also reported: the server-side time of
// the admission script (INFO commandstats), which no client-side scheduling noise affects.
// Target: admit p99 < 1 ms.
import { randomUUID } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { loadServiceConfig } from "../core/config.ts";
import { createLogger } from "../core/log.ts";
import { createRedis, deleteKeysMatching } from "../core/redis.ts";
import { createKeySpace } from "../core/redis-keys.ts";
import type { RequestContext } from "../core/request-context.ts";
import { parseTenant, type Tenant } from "../core/tenant.ts";
import { parsePriceTable } from "../metering/prices.ts";
import { createSpool } from "../metering/spool.ts";
import { createMeteringHooks } from "../router/metering/hooks.ts";
import { startDedicatedRedis } from "../test/support/throwaway-servers.ts";
import { uniqueName } from "../test/support/unique.ts";

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "1,8" },
  },
});
const N = Number(flags.requests);
const LEVELS = flags.concurrency.split(",").map(Number);

const server = await startDedicatedRedis();
const redis = createRedis(loadServiceConfig({ ...process.env, REDIS_URL: server.url }));
const prefix = `${uniqueName("bench-hot")}:`;
const keys = createKeySpace({ prefix });
const log = createLogger("bench", "warn");
const spool = createSpool({ redis, stream: keys.spool(), log });
const hooks = createMeteringHooks({
  redis,
  keys,
  prices: parsePriceTable({ models: { "llama-3.1-8b-instruct": { input: 0.0002, output: 0.0006 } } }),
  spool,
  log,
});

const tenantOf = (name: string, limits?: Record<string, unknown>): Tenant => {
  const r = parseTenant({
    apiVersion: "loraplex.io/v1alpha1",
    kind: "Tenant",
    metadata: { name },
    spec: { models: ["llama-3.1-8b-instruct"], limits },
  });
  if (!r.ok) throw new Error(r.error);
  return r.tenant;
};
const limited = tenantOf("bench-limited", {
  requestsPerMinute: 100_000_000,
  tokensPerMinute: 2_000_000_000,
  maxConcurrent: 100_000,
  dailySpendUSD: 1_000_000,
  monthlySpendUSD: 10_000_000,
  alertThresholds: [50, 80, 100],
  perKey: { requestsPerMinute: 100_000_000 },
  perUser: { requestsPerMinute: 100_000_000, maxConcurrent: 100_000 },
});
const unlimited = tenantOf("bench-unlimited");

const ctx = (t: Tenant, i: number): RequestContext => ({
  requestId: randomUUID(),
  receivedAt: performance.now(),
  endpoint: "chat.completions",
  tenant: t,
  keyId: `key_${i % 8}`,
  model: { requested: "llama-3.1-8b-instruct", baseModel: "llama-3.1-8b-instruct" },
  stream: false,
  endUser: `user-${i % 100}`,
  promptTokensEstimate: 300,
  maxOutputTokens: 256,
  stage: "authenticated",
});

async function run(t: Tenant, concurrency: number): Promise<number[]> {
  const lat: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < N) {
        const c = ctx(t, next++);
        const s = performance.now();
        await hooks.admit(c);
        lat.push(performance.now() - s);
        hooks.settle(c, {
          status: "ok",
          httpStatus: 200,
          promptTokens: 280,
          completionTokens: 120,
          durationMs: 500,
        });
      }
    }),
  );
  await hooks.idle();
  return lat.sort((a, b) => a - b);
}

/** Server-side microseconds per EVALSHA call over `n` admissions that are not settled. */
async function serverSideAdmitUs(n: number): Promise<number> {
  const stat = async () => {
    const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info("commandstats"));
    return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
  };
  const before = await stat();
  for (let i = 0; i < n; i++) await hooks.admit(ctx(limited, i));
  const after = await stat();
  return (after.usec - before.usec) / Math.max(1, after.calls - before.calls);
}

const q = (lat: number[], p: number) =>
  lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!.toFixed(3);
try {
  await run(limited, 4); // warm up: script load (EVALSHA cache), connections, JIT
  console.log(
    `metering hot path — ${cpus().length} CPUs, ${N} requests per run, a redis-server of its own on loopback`,
  );
  for (const [label, t] of [
    ["limits + caps (1 Lua call)", limited],
    ["no limits or caps", unlimited],
  ] as const) {
    for (const c of LEVELS) {
      const lat = await run(t, c);
      console.log(
        `  ${label.padEnd(28)} concurrency ${String(c).padStart(3)}: admit p50 ${q(lat, 50)} ms, p99 ${q(lat, 99)} ms, p99.9 ${q(lat, 99.9)} ms, max ${lat.at(-1)!.toFixed(3)} ms`,
      );
    }
  }
  const us = await serverSideAdmitUs(5_000);
  console.log(`  admission script inside Redis (commandstats): ${us.toFixed(1)} µs per call`);
  console.log(`  1-minute load average: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} CPUs`);
  console.log(
    `  reproduce: node bench/metering-hot-path.ts --requests ${N} --concurrency ${LEVELS.join(",")}`,
  );
} finally {
  await deleteKeysMatching(redis, `${prefix}*`);
  redis.disconnect();
  await server.stop();
}
