// Benchmark (not a test): the overspend experiment. Two real `loraplex router` processes share
// Redis and Postgres in front of an engine simulator; one tenant has a daily cap. Waves of 200
// concurrent requests (alternating routers) run until a wave is fully refused; then the spend
// recorded in Redis and in Postgres is compared with the cap and with the bound (cap + one
// request's worst-case cost).
//
//   node bench/metering-overspend.ts [--cap 5] [--max-tokens 64] [--concurrency 200] [--routers 2]
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import pg from "pg";
import { loadServiceConfig } from "../core/config.ts";
import { createRedis } from "../core/redis.ts";
import { createKeySpace } from "../core/redis-keys.ts";
import { periodsAt } from "../metering/budget.ts";
import { MODEL, PRICE, startMeteredStack, tenantYaml } from "../test/metering/harness-routers.ts";
import { uniqueName } from "../test/support/unique.ts";

const { values: flags } = parseArgs({
  options: {
    cap: { type: "string", default: "5" },
    "max-tokens": { type: "string", default: "64" },
    concurrency: { type: "string", default: "200" },
    routers: { type: "string", default: "2" },
  },
});
const CAP = Number(flags.cap);
const MAX_TOKENS = Number(flags["max-tokens"]);
const CONCURRENCY = Number(flags.concurrency);
const ROUTERS = Number(flags.routers);

execFileSync("bash", ["scripts/services.sh", "up"], { stdio: ["ignore", "ignore", "inherit"] });
const tenant = uniqueName("overspend");
const stack = await startMeteredStack({
  routers: ROUTERS,
  tenantsYaml: tenantYaml(tenant, `{dailySpendUSD: ${CAP}}`),
  timeScale: 1,
  engineArgs: ["--ttft-ms", "5", "--itl-ms", "2", "--jitter", "0.5"],
});
const cfg = loadServiceConfig();
const redis = createRedis(cfg);
const pool = new pg.Pool({ connectionString: cfg.DATABASE_URL, options: `-c search_path=${stack.schema}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
try {
  const key = await stack.createKey(tenant);
  const body = JSON.stringify({
    model: MODEL,
    messages: [{ role: "user", content: "Tell me a story." }],
    max_tokens: MAX_TOKENS,
  });
  const worst = (Math.ceil(Buffer.byteLength(body) / 4) * PRICE.input + MAX_TOKENS * PRICE.output) / 1000;
  let sent = 0;
  let served = 0;
  let waves = 0;
  const t0 = performance.now();
  for (; waves < 100; waves++) {
    const statuses = await Promise.all(
      Array.from({ length: CONCURRENCY }, (_, i) =>
        fetch(`${stack.urls[i % ROUTERS]}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body,
        }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        }),
      ),
    );
    sent += statuses.length;
    const ok = statuses.filter((s) => s === 200).length;
    served += ok;
    if (ok === 0) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const dayKey = createKeySpace({ schema: stack.schema }).dayBudget(tenant, periodsAt(Date.now()).day);
  for (let i = 0; i < 400 && Number((await redis.hget(dayKey, "resv")) ?? 0) !== 0; i++) await sleep(50);
  const redisSpent = Number(await redis.hget(dayKey, "spent")) / 1e6;
  const count = async () => Number((await pool.query("SELECT count(*) AS n FROM usage_events")).rows[0].n);
  for (let i = 0; i < 400 && (await count()) < sent; i++) await sleep(50);
  const { rows } = await pool.query(
    "SELECT coalesce(sum(input_cost_micro + output_cost_micro), 0)::bigint AS m FROM usage_events",
  );
  const pgSpent = Number(rows[0].m) / 1e6;
  console.log(
    `overspend experiment — ${ROUTERS} router processes, waves of ${CONCURRENCY} concurrent requests`,
  );
  console.log(
    `  cap $${CAP.toFixed(2)}/day, worst case per request $${worst.toFixed(4)} (prompt estimate + max_tokens ${MAX_TOKENS})`,
  );
  console.log(
    `  ${sent} requests in ${waves + 1} waves (${seconds.toFixed(1)} s): ${served} served, ${sent - served} refused`,
  );
  console.log(`  spent: $${redisSpent.toFixed(4)} (Redis) / $${pgSpent.toFixed(4)} (Postgres usage events)`);
  console.log(
    `  overspend: $${Math.max(0, redisSpent - CAP).toFixed(4)} = ${((100 * Math.max(0, redisSpent - CAP)) / CAP).toFixed(2)}% of the cap; ` +
      `bound (one worst case) $${worst.toFixed(4)}: ${redisSpent <= CAP + worst ? "held" : "VIOLATED"}`,
  );
  console.log(
    `  reproduce: node bench/metering-overspend.ts --cap ${CAP} --max-tokens ${MAX_TOKENS} --concurrency ${CONCURRENCY} --routers ${ROUTERS}`,
  );
} finally {
  redis.disconnect();
  await pool.end();
  await stack.stop();
}
