// The fair-queue wait on the tenant's own dashboard: usage events carry how long a request
// waited in the router's fair queue (Outcome.queueMs), and the dashboard summary and the recent
// requests list show the caller's own waits only, never another tenant's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDb, testDb } from "../support/db.ts";
import { ok, type TestRedis, tenant, testRedis } from "./harness.ts";
import { getJson, type Harness, pastCtx, startHarness } from "./harness-api.ts";

describe("fair-queue wait on the tenant dashboard", () => {
  let db: TestDb;
  let r: TestRedis;
  let h: Harness;
  let acmeKey: string;
  const acme = tenant("acme");
  const globex = tenant("globex");

  beforeAll(async () => {
    db = await testDb("queue_wait");
    r = testRedis("queue-wait");
    h = await startHarness(db, r, [acme, globex]);
    acmeKey = (await h.keys.createKey("acme", "ci")).key;
    // acme: 8 requests straight to an engine, 2 that queued (120 ms, 400 ms), 1 refused by a full queue.
    for (let i = 0; i < 8; i++) await h.meter(pastCtx(acme, 0, {}, 1), ok(100, 20));
    await h.meter(pastCtx(acme, 0, {}, 1), ok(100, 20, { queueMs: 120 }));
    await h.meter(pastCtx(acme, 0, {}, 1), ok(100, 20, { queueMs: 400 }));
    await h.meter(
      pastCtx(acme, 0, {}, 1),
      ok(0, 0, { status: "rejected", httpStatus: 429, queueMs: 0.05, reason: "fair queue full" }),
    );
    // globex waited far longer; none of it may show on acme's dashboard.
    for (let i = 0; i < 5; i++) await h.meter(pastCtx(globex, 0, {}, 1), ok(100, 20, { queueMs: 9_000 }));
    await h.flush();
  });
  afterAll(async () => {
    await h?.close();
    await db?.cleanup();
    await r?.cleanup();
  });

  it("summarises the caller's own queue wait over the last day", async () => {
    const { status, body } = await getJson(`${h.url}/v1/dashboard/summary`, acmeKey);
    expect(status).toBe(200);
    expect(body.queue_wait).toMatchObject({ requests: 11, queued: 3, refused: 1, p50_ms: 0 });
    expect(body.queue_wait.p99_ms).toBeGreaterThan(120);
    expect(body.queue_wait.p99_ms).toBeLessThanOrEqual(400);
  });

  it("lists each recent request's queue wait, null when it did not queue", async () => {
    const { body } = await getJson(`${h.url}/v1/organization/usage/requests?limit=50`, acmeKey);
    const waits = (body.data as { queue_ms: number | null }[]).map((d) => d.queue_ms);
    expect(waits).toHaveLength(11);
    expect(waits.filter((w) => w === null)).toHaveLength(8);
    expect(waits.filter((w) => w !== null).sort((a, b) => a! - b!)).toEqual([0, 120, 400]);
  });
});
