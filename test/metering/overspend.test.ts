// The spend-cap bound, through real router processes: 200 concurrent requests at a
// time, split over two `loraplex router` processes sharing Redis, against one daily cap, wave
// after wave until the cap is exhausted. Spend may exceed the cap by at most one request's
// worst-case cost (LiteLLM overshot 6.6× with 5 concurrent requests, and N× across N pods).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createRedis } from "../../core/redis.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import { periodsAt } from "../../metering/budget.ts";
import { uniqueName } from "../support/unique.ts";
import { type MeteredStack, MODEL, PRICE, startMeteredStack, tenantYaml } from "./harness-routers.ts";

const CAP_USD = 2;
const MAX_TOKENS = 40;

describe("metering through two real router processes sharing Redis and Postgres", () => {
  const tenant = uniqueName("capped");
  const limited = uniqueName("limited");
  let stack: MeteredStack;
  let key: string;
  let servedInTotal = -1;

  beforeAll(async () => {
    stack = await startMeteredStack({
      routers: 2,
      tenantsYaml: `${tenantYaml(tenant, `{dailySpendUSD: ${CAP_USD}}`)}---\n${tenantYaml(limited, "{requestsPerMinute: 2}")}`,
      timeScale: 1,
      engineArgs: ["--ttft-ms", "5", "--itl-ms", "2", "--jitter", "0.5"],
    });
    key = await stack.createKey(tenant);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("never spends more than the cap plus one request's worst-case cost", { timeout: 300_000 }, async () => {
    const body = JSON.stringify({
      model: MODEL,
      messages: [{ role: "user", content: "Count to forty, please." }],
      max_tokens: MAX_TOKENS,
    });
    // What the router reserves: its prompt estimate (bytes / 4) and max_tokens at list price.
    const worstMicro =
      Math.ceil(Buffer.byteLength(body) / 4) * PRICE.input * 1000 + MAX_TOKENS * PRICE.output * 1000;
    const statuses = new Map<number, number>();
    const unexpected: string[] = [];
    let sent = 0;
    let served = 0;
    for (let wave = 0; wave < 20; wave++) {
      const results = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const res = await fetch(`${stack.urls[i % 2]}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body,
          });
          const json = (await res.json()) as { error?: { type: string; message: string } };
          if (res.status === 429) expect(json.error?.type).toBe("insufficient_quota");
          if (res.status !== 200 && res.status !== 429)
            unexpected.push(`${res.status} ${json.error?.message}`);
          return res.status;
        }),
      );
      sent += results.length;
      for (const s of results) statuses.set(s, (statuses.get(s) ?? 0) + 1);
      const ok = results.filter((s) => s === 200).length;
      served += ok;
      if (ok === 0) break;
    }
    expect(unexpected).toEqual([]);
    expect([...statuses.keys()].sort()).toEqual([200, 429]);
    expect(served).toBeGreaterThan(0);
    servedInTotal = served;

    const cfg = loadServiceConfig();
    const redis = createRedis(cfg);
    const pool = new pg.Pool({
      connectionString: cfg.DATABASE_URL,
      options: `-c search_path=${stack.schema}`,
    });
    try {
      const keys = createKeySpace({ schema: stack.schema });
      const dayKey = keys.dayBudget(tenant, periodsAt(Date.now()).day);
      // Settlement runs after each response; wait until no reservation is left open.
      for (let i = 0; i < 400 && Number((await redis.hget(dayKey, "resv")) ?? 0) !== 0; i++) await sleep(50);
      const spentMicro = Number(await redis.hget(dayKey, "spent"));
      // Every request, served or refused, leaves exactly one usage event.
      const events = async () =>
        Number(
          (await pool.query("SELECT count(*) AS n FROM usage_events WHERE tenant = $1", [tenant])).rows[0].n,
        );
      for (let i = 0; i < 400 && (await events()) < sent; i++) await sleep(50);
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n, count(DISTINCT request_id)::int AS ids,
                count(*) FILTER (WHERE status = 'ok')::int AS ok,
                coalesce(sum(input_cost_micro + output_cost_micro), 0)::bigint AS micro
         FROM usage_events WHERE tenant = $1`,
        [tenant],
      );
      const capMicro = CAP_USD * 1e6;
      console.log(
        `overspend experiment: ${sent} requests through 2 routers, ${served} served; cap $${CAP_USD}, ` +
          `spent $${spentMicro / 1e6} (Redis) / $${Number(rows[0].micro) / 1e6} (Postgres); ` +
          `bound cap + one worst case = $${(capMicro + worstMicro) / 1e6}`,
      );
      expect(rows[0]).toMatchObject({ n: sent, ids: sent, ok: served });
      expect(Number(rows[0].micro)).toBe(spentMicro);
      expect(spentMicro).toBeLessThanOrEqual(capMicro + worstMicro);
      // The cap was really reached: less than one worst-case request of headroom was left.
      expect(spentMicro).toBeGreaterThan(capMicro - worstMicro);
    } finally {
      redis.disconnect();
      await pool.end();
    }
  });

  it("answers 429 in OpenAI's shape with Retry-After and x-ratelimit headers", async () => {
    const limitedKey = await stack.createKey(limited);
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
    const call = (url: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${limitedKey}`, "content-type": "application/json" },
        body,
      });
    // The limit is shared by both routers: one request through each, the third is refused.
    expect((await call(stack.urls[0]!)).status).toBe(200);
    expect((await call(stack.urls[1]!)).status).toBe(200);
    const res = await call(stack.urls[0]!);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.headers.get("x-ratelimit-limit-requests")).toBe("2");
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    const json = (await res.json()) as { error: { type: string; code: string; message: string } };
    expect(json.error).toMatchObject({ type: "rate_limit_error", code: "rate_limit_exceeded" });
  });

  it("serves the usage API and the dashboard from the router, scoped to the caller", async () => {
    const day = Math.floor(Date.now() / 86_400_000) * 86_400;
    const res = await fetch(`${stack.urls[1]}/v1/organization/usage/completions?start_time=${day}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(res.status).toBe(200);
    const page = (await res.json()) as { data: { results: { num_model_requests: number }[] }[] };
    const served = page.data.flatMap((b) => b.results).reduce((n, r) => n + r.num_model_requests, 0);
    expect(served).toBe(servedInTotal);
    const html = await fetch(`${stack.urls[0]}/dashboard`);
    expect(html.status).toBe(200);
    expect(html.headers.get("content-security-policy")).toMatch(/script-src 'sha256-/);
    expect(await html.text()).toContain("Loraplex usage");
  });

  it("exposes tenant-labelled spend, caps, rejections, spool depth and batch latency on /metrics", async () => {
    const text = await (await fetch(`${stack.metricsUrls[0]}/metrics`)).text();
    expect(text).toMatch(
      new RegExp(`loraplex_metering_rejections_total\\{tenant="${tenant}",reason="daily_cap"\\} [1-9]`),
    );
    expect(text).toMatch(
      new RegExp(
        `loraplex_metering_rejections_total\\{tenant="${limited}",reason="requests_limit_tenant"\\} 1`,
      ),
    );
    expect(text).toMatch(new RegExp(`loraplex_tenant_spend_usd\\{tenant="${tenant}",period="daily"\\} \\d`));
    expect(text).toContain(`loraplex_tenant_spend_cap_usd{tenant="${tenant}",period="daily"} ${CAP_USD}`);
    expect(text).toMatch(/loraplex_usage_spool_depth \d+/);
    expect(text).toMatch(/loraplex_usage_batch_write_seconds_count [1-9]/);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
