import { createServer, type Server } from "node:http";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminCostsRouter } from "../../router/metering/admin-costs.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { freePort } from "../support/process.ts";
import { ok, type TestRedis, tenant, testRedis } from "./harness.ts";
import { getJson, type Harness, type Json, pastCtx, startHarness } from "./harness-api.ts";

const TOKEN = "admin-costs-test-token-0123456789abcdef";
const today = Math.floor(Date.now() / 86_400_000) * 86_400;

describe("operator cost report", () => {
  let db: TestDb;
  let r: TestRedis;
  let h: Harness;
  let server: Server;
  let url: string;
  const acme = tenant("acme");
  const globex = tenant("globex", { limits: { requestsPerMinute: 3 } });

  beforeAll(async () => {
    db = await testDb("admin_costs");
    r = testRedis("admin-costs");
    h = await startHarness(db, r, [acme, globex]);
    for (let i = 0; i < 10; i++) await h.meter(pastCtx(acme, 0), ok(1000, 500, { durationMs: 1800 }));
    // globex: 3 served, then 4 refused by its rate limit.
    for (let i = 0; i < 7; i++) await h.meter(pastCtx(globex, 0), ok(100, 100, { durationMs: 3600 }));
    await h.flush();
    const app = express();
    app.use(
      createAdminCostsRouter({
        pool: db.pool,
        adminToken: TOKEN,
        config: {
          engineCost: { perGpuHourUSD: 3.6, avgConcurrency: 2 },
          plans: { acme: { monthlyUSD: 30 } },
        },
      }),
    );
    server = createServer(app);
    const port = await freePort();
    await new Promise<void>((done) => server.listen(port, "127.0.0.1", done));
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    server?.close();
    await h?.close();
    await db?.cleanup();
    await r?.cleanup();
  });

  it("reports cost to serve, revenue and margin per tenant", async () => {
    const { status, body } = await getJson(`${url}/admin/v1/costs?start_time=${today}`, TOKEN);
    expect(status).toBe(200);
    const by = Object.fromEntries(body.data.map((x: Json) => [x.tenant, x]));
    // acme: 10 × (1000 in × $0.5/1k + 500 out × $1.5/1k) = $12.5; 18 engine-seconds shared 2 ways
    // at $3.60/GPU-hour = $0.009; one day of a $30/month plan = $1.
    expect(by.acme).toEqual({
      tenant: "acme",
      requests: 10,
      rejected: 0,
      failed: 0,
      input_tokens: 10_000,
      output_tokens: 5_000,
      revenue_usd: 12.5,
      engine_seconds: 18,
      cost_to_serve_usd: 0.009,
      plan_price_usd: 1,
      margin_usd: 0.991,
    });
    expect(by.globex).toMatchObject({ requests: 7, rejected: 4, plan_price_usd: null, margin_usd: null });
  });

  it("ranks top tenants and counts rejections by reason", async () => {
    const top = await getJson(
      `${url}/admin/v1/costs/top-tenants?start_time=${today}&by=revenue_usd&limit=1`,
      TOKEN,
    );
    expect(top.body.data.map((x: Json) => x.tenant)).toEqual(["acme"]);
    const rej = await getJson(`${url}/admin/v1/rejections?start_time=${today}`, TOKEN);
    expect(rej.body.data).toEqual([{ tenant: "globex", reason: "requests_limit_tenant", count: 4 }]);
  });

  it("requires the admin token and valid periods", async () => {
    expect((await getJson(`${url}/admin/v1/costs?start_time=${today}`)).status).toBe(401);
    expect((await getJson(`${url}/admin/v1/costs?start_time=${today}`, "wrong")).status).toBe(401);
    const inverted = await getJson(
      `${url}/admin/v1/costs?start_time=${today}&end_time=${today - 86_400}`,
      TOKEN,
    );
    expect(inverted.status).toBe(400);
    expect(inverted.body.error.param).toBe("end_time");
    const huge = await getJson(`${url}/admin/v1/costs?start_time=${today - 800 * 86_400}`, TOKEN);
    expect(huge.status).toBe(400);
    const by = await getJson(`${url}/admin/v1/costs/top-tenants?start_time=${today}&by=vibes`, TOKEN);
    expect(by.body.error.param).toBe("by");
  });
});
