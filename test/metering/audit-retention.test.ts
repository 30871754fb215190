import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { purgeExpiredAudit, startAuditRetention } from "../../metering/audit.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { log, ok, type TestRedis, tenant, testRedis } from "./harness.ts";
import { type Harness, pastCtx, startHarness } from "./harness-api.ts";

describe("audit content modes and retention", () => {
  let db: TestDb;
  let r: TestRedis;
  let h: Harness;
  const full = tenant("full-co", {
    audit: { mode: "full", retentionDays: 30 },
    policy: { systemPrompt: "Be brief." },
  });
  const hashes = tenant("hash-co", { audit: { mode: "hashes", retentionDays: 30 } });
  const none = tenant("none-co", { audit: { mode: "none", retentionDays: 400 } });

  beforeAll(async () => {
    db = await testDb("audit");
    r = testRedis("audit");
    h = await startHarness(db, r, [full, hashes, none]);
  });
  afterAll(async () => {
    await h?.close();
    await db?.cleanup();
    await r?.cleanup();
  });

  it("keeps prompt and response in full, as hashes only, or not at all, per tenant", async () => {
    for (const t of [full, hashes, none]) {
      const ctx = pastCtx(t, 0);
      ctx.audit = { prompt: [{ role: "user", content: "hello" }], response: "hi there" };
      await h.meter(ctx, ok(3, 2));
    }
    await h.flush();
    const { rows } = await db.pool.query(
      "SELECT tenant, mode, prompt, response, prompt_sha256, response_sha256, policy_hash, decision FROM audit_log ORDER BY tenant",
    );
    const by = Object.fromEntries(rows.map((x) => [x.tenant, x]));
    expect(by["full-co"]).toMatchObject({
      mode: "full",
      prompt: '[{"role":"user","content":"hello"}]',
      response: "hi there",
    });
    expect(by["full-co"].prompt_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(by["hash-co"]).toMatchObject({ mode: "hashes", prompt: null, response: null });
    expect(by["hash-co"].response_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(by["none-co"]).toMatchObject({
      mode: "none",
      prompt: null,
      response: null,
      prompt_sha256: null,
      response_sha256: null,
    });
    expect(by["full-co"].policy_hash).not.toBe(by["hash-co"].policy_hash);
    expect(rows.every((x) => x.decision === "served")).toBe(true);
  });

  it("purges rows past each tenant's retention and keeps the rest", async () => {
    for (const t of [full, none]) {
      await h.meter(pastCtx(t, 45), ok(1, 1));
      await h.meter(pastCtx(t, 10), ok(1, 1));
    }
    await h.flush();
    // Stored responses (Responses API) follow the same retention.
    for (const [id, t, days] of [
      ["resp_old_full", "full-co", 45],
      ["resp_new_full", "full-co", 10],
      ["resp_old_none", "none-co", 45],
    ] as const) {
      await db.pool.query(
        `INSERT INTO responses (id, tenant, response, input_items, conversation, created_at)
         VALUES ($1, $2, '{}', '[]', '[]', now() - make_interval(days => $3))`,
        [id, t, days],
      );
    }
    const job = startAuditRetention({
      pool: db.pool,
      tenants: () => [full, hashes, none],
      log,
      intervalMs: 3_600_000,
    });
    const purged = await job.runOnce();
    job.stop();
    expect(purged).toEqual({ "full-co": 1 });
    const left = await db.pool.query(
      "SELECT tenant, count(*)::int AS n FROM audit_log GROUP BY 1 ORDER BY 1",
    );
    expect(left.rows).toEqual([
      { tenant: "full-co", n: 2 },
      { tenant: "hash-co", n: 1 },
      { tenant: "none-co", n: 3 },
    ]);
    const responses = await db.pool.query("SELECT id FROM responses ORDER BY id");
    expect(responses.rows.map((x) => x.id)).toEqual(["resp_new_full", "resp_old_none"]);
    expect(await purgeExpiredAudit(db.pool, [full])).toEqual({});
  });
});
