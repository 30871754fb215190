// Postgres is stopped for real while traffic flows; events wait in the Redis spool and are
// written when it returns: every event exactly once, rollups matching, audit rows alongside.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePriceTable } from "../../metering/prices.ts";
import { createSpool, entryFields, type SpoolEntry } from "../../metering/spool.ts";
import { createUsageStore } from "../../metering/usage-store.ts";
import { createUsageWriter, type UsageWriter } from "../../metering/usage-writer.ts";
import { createMeteringHooks, type MeteringHooks } from "../../router/metering/hooks.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { type DedicatedPostgres, startDedicatedPostgres } from "../support/throwaway-servers.ts";
import { ctxFor, log, ok, PRICES, type TestRedis, tenant, testRedis } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("usage spool survives a Postgres outage (dedicated PostgreSQL, stopped for real)", () => {
  let pg: DedicatedPostgres;
  let db: TestDb;
  let r: TestRedis;
  let hooks: MeteringHooks;
  let writer: UsageWriter;

  beforeAll(async () => {
    pg = await startDedicatedPostgres();
    db = await testDb("spool", pg.url);
    r = testRedis("spool");
    const spool = createSpool({ redis: r.redis, stream: r.keys.spool(), log });
    hooks = createMeteringHooks({
      redis: r.redis,
      keys: r.keys,
      prices: parsePriceTable(PRICES),
      spool,
      log,
    });
    writer = createUsageWriter({
      redis: r.redis,
      stream: r.keys.spool(),
      store: createUsageStore(db.pool),
      log,
      batchSize: 200,
      blockMs: 100,
      maxBackoffMs: 300,
    });
    writer.start();
  });
  afterAll(async () => {
    await writer?.stop();
    await db?.pool.end().catch(() => {});
    pg?.destroy();
    await r?.cleanup();
  });

  const count = async (sql: string) => Number((await db.pool.query(sql)).rows[0].n);

  it("loses nothing and counts nothing twice", { timeout: 180_000 }, async () => {
    const alpha = tenant("alpha", { audit: { mode: "hashes", retentionDays: 30 } });
    const beta = tenant("beta", { audit: { mode: "none", retentionDays: 30 } });
    const TOTAL = 3000;
    const requestIds = new Set<string>();
    const traffic = (async () => {
      for (let i = 0; i < TOTAL; i++) {
        const ctx = ctxFor(i % 3 ? alpha : beta, {
          endUser: `u${i % 7}`,
          feature: i % 2 ? "chat" : "search",
        });
        requestIds.add(ctx.requestId);
        await hooks.admit(ctx);
        hooks.settle(ctx, ok(10, 5));
        if (i % 50 === 0) await sleep(5);
      }
    })();

    await until(
      "some events in Postgres",
      async () => (await count("SELECT count(*) AS n FROM usage_events")) > 0,
    );
    pg.stop();
    // While it is down events pile up in the stream instead of being lost.
    await until("a backlog in the spool", async () => (await r.redis.xlen(r.keys.spool())) > 300);
    await sleep(500);
    pg.start();
    await traffic;
    await hooks.idle();
    await until("the spool to drain", async () => (await r.redis.xlen(r.keys.spool())) === 0);
    await until(
      "all events written",
      async () => (await count("SELECT count(*) AS n FROM usage_events")) >= TOTAL,
    );

    expect(await count("SELECT count(*) AS n FROM usage_events")).toBe(TOTAL);
    expect(await count("SELECT count(DISTINCT request_id) AS n FROM usage_events")).toBe(TOTAL);
    const { rows } = await db.pool.query<{ request_id: string }>("SELECT request_id FROM usage_events");
    expect(new Set(rows.map((x) => x.request_id))).toEqual(requestIds);
    expect(await count("SELECT sum(requests) AS n FROM usage_daily")).toBe(TOTAL);
    expect(await count("SELECT sum(input_tokens) AS n FROM usage_daily")).toBe(TOTAL * 10);
    expect(await count("SELECT count(*) AS n FROM audit_log")).toBe(TOTAL);
    expect(
      await count("SELECT count(*) AS n FROM audit_log WHERE tenant = 'beta' AND prompt_sha256 IS NOT NULL"),
    ).toBe(0);
  });

  it("ignores a replay of entries already written (a crash between commit and XACK)", async () => {
    const { rows } = await db.pool.query("SELECT * FROM usage_events ORDER BY ts LIMIT 100");
    const before = await count("SELECT sum(requests) AS n FROM usage_daily");
    const stream = r.keys.spool();
    const pipe = r.redis.pipeline();
    for (const row of rows) {
      const entry: SpoolEntry = {
        id: row.id,
        ts: row.ts.toISOString(),
        requestId: row.request_id,
        tenant: row.tenant,
        keyId: row.key_id,
        endUser: row.end_user,
        feature: row.feature,
        endpoint: row.endpoint,
        model: row.model,
        baseModel: row.base_model,
        adapter: row.adapter,
        adapterVersion: row.adapter_version,
        replica: row.replica,
        promptTokens: row.prompt_tokens,
        completionTokens: row.completion_tokens,
        inputCostMicro: Number(row.input_cost_micro),
        outputCostMicro: Number(row.output_cost_micro),
        ttftMs: row.ttft_ms,
        durationMs: row.duration_ms,
        status: row.status,
        httpStatus: row.http_status,
        reason: row.reason,
        stream: row.stream,
        audit: {
          policyHash: "x",
          mode: "none",
          prompt: null,
          response: null,
          promptSha256: null,
          responseSha256: null,
        },
      };
      pipe.xadd(stream, "*", ...entryFields(entry));
    }
    await pipe.exec();
    await until("the replay to drain", async () => (await r.redis.xlen(stream)) === 0);
    expect(await count("SELECT count(*) AS n FROM usage_events")).toBe(3000);
    expect(await count("SELECT sum(requests) AS n FROM usage_daily")).toBe(before);
    expect(await count("SELECT count(*) AS n FROM audit_log")).toBe(3000);
  });
});
