import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eraseTenantData } from "../../metering/erasure.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { ok, type TestRedis, tenant, testRedis } from "./harness.ts";
import { type Harness, pastCtx, startHarness } from "./harness-api.ts";

describe("tenant erasure", () => {
  let db: TestDb;
  let r: TestRedis;
  let h: Harness;
  const capped = { limits: { dailySpendUSD: 100, requestsPerMinute: 1000, perUser: { maxConcurrent: 5 } } };
  const acme = tenant("acme", capped);
  const globex = tenant("globex", capped);

  beforeAll(async () => {
    db = await testDb("erasure");
    r = testRedis("erasure");
    h = await startHarness(db, r, [acme, globex]);
  });
  afterAll(async () => {
    await h?.close();
    await db?.cleanup();
    await r?.cleanup();
  });

  const rows = async (tenantName: string) => {
    const q = async (table: string) =>
      Number(
        (await db.pool.query(`SELECT count(*) AS n FROM ${table} WHERE tenant = $1`, [tenantName])).rows[0].n,
      );
    return {
      apiKeys: await q("api_keys"),
      usageEvents: await q("usage_events"),
      rollups: await q("usage_daily"),
      auditRows: await q("audit_log"),
      responses: await q("responses"),
      files: await q("files"),
      fineTuneJobs: await q("fine_tune_jobs"),
      vectorStores: await q("vector_stores"),
      vectorStoreChunks: await q("vector_store_chunks"),
    };
  };
  const addTrainingRows = async (tenantName: string) => {
    const file = `file-${tenantName}`;
    await db.pool.query(
      "INSERT INTO files (id, tenant, filename, purpose, bytes) VALUES ($1, $2, 'train.jsonl', 'fine-tune', 10)",
      [file, tenantName],
    );
    await db.pool.query(
      `INSERT INTO fine_tune_jobs (id, tenant, model, training_file, seed, hyperparameters, status)
       VALUES ($1, $2, 'm', $3, 1, '{}', 'queued')`,
      [`ftjob-${tenantName}`, tenantName, file],
    );
    // A vector store with the file attached and two embedded chunks.
    const vs = `vs_${tenantName}`;
    await db.pool.query("INSERT INTO vector_stores (id, tenant) VALUES ($1, $2)", [vs, tenantName]);
    await db.pool.query(
      `INSERT INTO vector_store_files (vector_store_id, file_id, tenant, chunking_strategy, status)
       VALUES ($1, $2, $3, '{}', 'completed')`,
      [vs, file, tenantName],
    );
    await db.pool.query(
      `INSERT INTO vector_store_chunks (tenant, vector_store_id, file_id, chunk_index, content, dims, embedding)
       VALUES ($1, $2, $3, 0, 'a', 2, '[1,0]'), ($1, $2, $3, 1, 'b', 2, '[0,1]')`,
      [tenantName, vs, file],
    );
    // A stored response of the Responses API.
    await db.pool.query(
      "INSERT INTO responses (id, tenant, response, input_items, conversation) VALUES ($1, $2, '{}', '[]', '[]')",
      [`resp_${tenantName}`, tenantName],
    );
  };
  const spooled = async (tenantName: string) =>
    (await r.redis.xrange(r.keys.spool(), "-", "+")).filter(([, f]) => f[f.indexOf("t") + 1] === tenantName)
      .length;
  const redisKeys = async (tenantName: string) => {
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await r.redis.scan(
        cursor,
        "MATCH",
        r.keys.tenantPattern(tenantName),
        "COUNT",
        1000,
      );
      found.push(...keys);
      cursor = next;
    } while (cursor !== "0");
    return found.length;
  };

  it("removes everything of the tenant, reports the counts, and leaves the other tenant untouched", async () => {
    await h.keys.createKey("acme", "one");
    await h.keys.createKey("globex", "one");
    await addTrainingRows("acme");
    await addTrainingRows("globex");
    for (const t of [acme, globex]) {
      for (let i = 0; i < 6; i++) await h.meter(pastCtx(t, i % 2, { endUser: `u${i}` }), ok(10, 10));
    }
    await h.flush();
    // More traffic that stays in the spool (not yet written), and one acme request still in flight.
    for (const t of [acme, globex]) for (let i = 0; i < 3; i++) await h.meter(pastCtx(t, 0), ok(1, 1));
    const inFlight = pastCtx(acme, 0);
    await h.hooks.admit(inFlight);
    await h.hooks.idle();
    const globexBefore = await rows("globex");
    const globexKeys = await redisKeys("globex");

    const counts = await eraseTenantData(db.pool, r.redis, "acme", { keys: r.keys });
    expect(counts).toEqual({
      apiKeys: 1,
      usageEvents: 6,
      rollups: 6, // one per (day, user): six users
      auditRows: 6,
      responses: 1,
      files: 1,
      fineTuneJobs: 1,
      vectorStores: 1,
      vectorStoreFiles: 1,
      vectorStoreChunks: 2,
      redisKeys: expect.any(Number),
      spoolEntries: 3,
    });
    expect(counts.redisKeys).toBeGreaterThanOrEqual(3);

    // The in-flight request finishes after the erasure; its event must not resurrect the tenant.
    h.hooks.settle(inFlight, ok(5, 5));
    await h.flush();
    expect(await rows("acme")).toEqual({
      apiKeys: 0,
      usageEvents: 0,
      rollups: 0,
      auditRows: 0,
      responses: 0,
      files: 0,
      fineTuneJobs: 0,
      vectorStores: 0,
      vectorStoreChunks: 0,
    });
    expect(await spooled("acme")).toBe(0);
    expect(await redisKeys("acme")).toBe(0);

    const globexAfter = await rows("globex");
    expect(globexAfter.apiKeys).toBe(globexBefore.apiKeys);
    expect(globexAfter.files).toBe(1);
    expect(globexAfter.responses).toBe(1);
    expect(globexAfter.fineTuneJobs).toBe(1);
    expect(globexAfter.vectorStoreChunks).toBe(2);
    expect(globexAfter.usageEvents).toBe(globexBefore.usageEvents + 3);
    expect(globexAfter.auditRows).toBe(globexBefore.auditRows + 3);
    expect(await redisKeys("globex")).toBe(globexKeys);
  });
});
