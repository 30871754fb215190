import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withTenant } from "../../metering/tenant-db.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { ok, type TestRedis, tenant, testRedis } from "./harness.ts";
import { getJson, type Harness, type Json, pastCtx, startHarness } from "./harness-api.ts";

const DAY = 86_400;
const today = Math.floor(Date.now() / 1000 / DAY) * DAY;

describe("tenant usage API (OpenAI Usage/Costs shapes) and the row-level security wall", () => {
  let db: TestDb;
  let r: TestRedis;
  let h: Harness;
  let acmeKey: string;
  let acmeKeyId: string;
  let globexKey: string;
  const acme = tenant("acme", {
    adapters: [
      {
        name: "support-bot",
        baseModel: "base-8b",
        source: "s3://loraplex/tenants/acme/adapters/support-bot/3/",
        version: 3,
      },
    ],
    audit: { mode: "full", retentionDays: 30 },
  });
  const globex = tenant("globex");

  beforeAll(async () => {
    db = await testDb("usage_api");
    r = testRedis("usage-api");
    h = await startHarness(db, r, [acme, globex]);
    const a = await h.keys.createKey("acme", "ci");
    acmeKey = a.key;
    acmeKeyId = a.id;
    globexKey = (await h.keys.createKey("globex", "ci")).key;
    const adapter = { name: "support-bot", version: 3, source: "s3://x", loraName: "acme--support-bot--3" };
    // acme: 3 days of traffic; day 2 uses its adapter; embeddings on day 0.
    for (let d = 0; d < 3; d++) {
      for (let i = 0; i < 4; i++) {
        const model = d === 2 ? { requested: "support-bot", baseModel: "base-8b", adapter } : undefined;
        await h.meter(
          pastCtx(
            acme,
            d,
            {
              keyId: acmeKeyId,
              endUser: `user-${i % 2}`,
              feature: i < 2 ? "chat" : "search",
              ...(model ? { model } : {}),
            },
            i,
          ),
          ok(100, 50),
        );
      }
    }
    await h.meter(
      pastCtx(acme, 0, {
        keyId: acmeKeyId,
        endpoint: "embeddings",
        model: { requested: "embed-small", baseModel: "embed-small" },
        maxOutputTokens: 0,
      }),
      ok(1000, 0),
    );
    // globex: heavy, and must never show up for acme.
    for (let i = 0; i < 5; i++) await h.meter(pastCtx(globex, 0, { endUser: "globex-user" }), ok(9999, 9999));
    await h.flush();
  });
  afterAll(async () => {
    await h?.close();
    await db?.cleanup();
    await r?.cleanup();
  });

  const usage = (path: string, key = acmeKey) => getJson(`${h.url}${path}`, key);

  it("returns day buckets of the caller's own completions usage grouped by model", async () => {
    const { status, body } = await usage(
      `/v1/organization/usage/completions?start_time=${today - 2 * DAY}&group_by=model`,
    );
    expect(status).toBe(200);
    expect(body.object).toBe("page");
    expect(body.has_more).toBe(false);
    expect(body.data.map((b: Json) => b.start_time)).toEqual([today - 2 * DAY, today - DAY, today]);
    const first = body.data[0];
    expect(first).toMatchObject({ object: "bucket", end_time: today - DAY });
    expect(first.results).toEqual([
      {
        object: "organization.usage.completions.result",
        input_tokens: 400,
        output_tokens: 200,
        input_cached_tokens: 0,
        input_audio_tokens: 0,
        output_audio_tokens: 0,
        num_model_requests: 4,
        project_id: null,
        user_id: null,
        api_key_id: null,
        model: "support-bot",
        adapter: null,
        feature: null,
        batch: null,
      },
    ]);
    const all = body.data.flatMap((b: Json) => b.results);
    expect(all.reduce((s: number, x: Json) => s + x.input_tokens, 0)).toBe(1200);
  });

  it("groups by user, key, adapter and feature", async () => {
    const { body } = await usage(
      `/v1/organization/usage/completions?start_time=${today - 2 * DAY}&group_by=user_id&group_by=api_key_id,adapter&group_by[]=feature`,
    );
    const results = body.data.flatMap((b: Json) => b.results);
    expect(results).toHaveLength(12); // 3 days × 2 users × 2 features (each one key, one adapter)
    expect(new Set(results.map((x: Json) => x.api_key_id))).toEqual(new Set([acmeKeyId]));
    expect(new Set(results.map((x: Json) => x.adapter))).toEqual(new Set([null, "support-bot@3"]));
    expect(new Set(results.map((x: Json) => x.user_id))).toEqual(new Set(["user-0", "user-1"]));
  });

  it("keeps embeddings apart and serves minute and hour buckets from raw events", async () => {
    const emb = await usage(`/v1/organization/usage/embeddings?start_time=${today}`);
    expect(emb.body.data[0].results).toEqual([
      expect.objectContaining({
        object: "organization.usage.embeddings.result",
        input_tokens: 1000,
        num_model_requests: 1,
      }),
    ]);
    const now = Math.floor(Date.now() / 1000);
    const hours = await usage(
      `/v1/organization/usage/completions?start_time=${now - 3600 * 3}&bucket_width=1h&limit=5`,
    );
    expect(hours.status).toBe(200);
    const hourly = hours.body.data.flatMap((b: Json) => b.results);
    expect(hourly.reduce((s: number, x: Json) => s + x.num_model_requests, 0)).toBe(4);
    const minutes = await usage(
      `/v1/organization/usage/completions?start_time=${now - 600}&bucket_width=1m&limit=20`,
    );
    expect(minutes.body.data).toHaveLength(11);
    expect(minutes.body.data[1].end_time - minutes.body.data[1].start_time).toBe(60);
  });

  it("pages through buckets with next_page", async () => {
    const first = await usage(
      `/v1/organization/usage/completions?start_time=${today - 2 * DAY}&end_time=${today + DAY}&limit=2`,
    );
    expect(first.body.data).toHaveLength(2);
    expect(first.body.has_more).toBe(true);
    const second = await usage(
      `/v1/organization/usage/completions?start_time=${today - 2 * DAY}&end_time=${today + DAY}&limit=2&page=${first.body.next_page}`,
    );
    expect(second.body.data.map((b: Json) => b.start_time)).toEqual([today]);
    expect(second.body.has_more).toBe(false);
    expect(second.body.next_page).toBeNull();
  });

  it("reports costs like OpenAI's Costs API, with line items", async () => {
    const { body } = await usage(`/v1/organization/costs?start_time=${today - DAY}&group_by=line_item`);
    const day = body.data.find((b: Json) => b.start_time === today - DAY);
    // 4 requests × 100 in × $0.5/1k = $0.2 input; 4 × 50 out × $1.5/1k = $0.3 output.
    expect(day.results).toEqual([
      expect.objectContaining({
        object: "organization.costs.result",
        amount: { value: 0.2, currency: "usd" },
        line_item: "base-8b, input",
      }),
      expect.objectContaining({ amount: { value: 0.3, currency: "usd" }, line_item: "base-8b, output" }),
    ]);
    const total = await usage(`/v1/organization/costs?start_time=${today}`);
    // today: 4 × $0.125 chat + 1000 embedding tokens × $0.02/1k = $0.52
    expect(total.body.data[0].results[0].amount.value).toBeCloseTo(0.52, 6);
  });

  it("answers bad input with 400s that name the parameter", async () => {
    const cases: [string, string][] = [
      [`/v1/organization/usage/completions?start_time=${today}&group_by=project_color`, "group_by"],
      [`/v1/organization/usage/completions?start_time=${today}&end_time=${today - DAY}`, "end_time"],
      [`/v1/organization/usage/completions?start_time=${today - 60 * DAY}&bucket_width=1m`, "end_time"],
      [`/v1/organization/usage/completions?start_time=${today}&limit=100000`, "limit"],
      [`/v1/organization/usage/completions?start_time=${today}&limit=-3`, "limit"],
      [`/v1/organization/usage/completions?start_time=${today}&page=not-a-cursor!!`, "page"],
      [`/v1/organization/usage/completions?start_time=${today}&page=eyJrIjoiYXVkaXQifQ`, "page"],
      [`/v1/organization/usage/completions?start_time=yesterday`, "start_time"],
      ["/v1/organization/usage/completions", "start_time"],
      [`/v1/organization/usage/completions?start_time=${today}&bucket_width=1w`, "bucket_width"],
      [`/v1/organization/costs?start_time=${today}&bucket_width=1h`, "bucket_width"],
      [`/v1/organization/usage/completions?start_time=${today}&start_time=${today}`, "start_time"],
      ["/v1/audit?cursor=%7B%7D", "cursor"],
      ["/v1/audit?limit=5000", "limit"],
    ];
    for (const [path, param] of cases) {
      const { status, body } = await usage(path);
      expect({ path, status, param: body.error?.param }).toEqual({ path, status: 400, param });
      expect(body.error.type).toBe("invalid_request_error");
    }
    const anon = await getJson(`${h.url}/v1/organization/usage/completions?start_time=${today}`);
    expect(anon.status).toBe(401);
  });

  it("never shows another tenant's rows: each caller sees only its own usage", async () => {
    const mine = await usage(`/v1/organization/usage/completions?start_time=${today}&group_by=user_id`);
    expect(mine.body.data[0].results.map((x: Json) => x.user_id).sort()).toEqual(["user-0", "user-1"]);
    const theirs = await usage(
      `/v1/organization/usage/completions?start_time=${today}&group_by=user_id`,
      globexKey,
    );
    expect(theirs.body.data[0].results).toEqual([
      expect.objectContaining({ user_id: "globex-user", num_model_requests: 5 }),
    ]);
  });

  it("RLS is the second wall: a query with no WHERE clause still returns only the caller's rows", async () => {
    const owner = await db.pool.query("SELECT DISTINCT tenant FROM usage_events ORDER BY 1");
    expect(owner.rows.map((x) => x.tenant)).toEqual(["acme", "globex"]);
    const seen = await withTenant(db.pool, "acme", async (c) => ({
      events: (await c.query("SELECT DISTINCT tenant FROM usage_events")).rows.map((x) => x.tenant),
      rollups: (await c.query("SELECT DISTINCT tenant FROM usage_daily")).rows.map((x) => x.tenant),
      audit: (await c.query("SELECT DISTINCT tenant FROM audit_log")).rows.map((x) => x.tenant),
      count: Number((await c.query("SELECT count(*) AS n FROM usage_events")).rows[0].n),
    }));
    expect(seen).toEqual({ events: ["acme"], rollups: ["acme"], audit: ["acme"], count: 13 });
    // No tenant set: nothing at all. Writes are refused (read-only role and transaction).
    const none = await withTenant(db.pool, "", async (c) =>
      Number((await c.query("SELECT count(*) AS n FROM usage_events")).rows[0].n),
    );
    expect(none).toBe(0);
    await expect(withTenant(db.pool, "acme", (c) => c.query("DELETE FROM usage_events"))).rejects.toThrow();
  });

  it("pages and exports the audit trail of the caller's tenant only", async () => {
    const first = await usage("/v1/audit?limit=5");
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(5);
    expect(first.body.has_more).toBe(true);
    const entry = first.body.data[0];
    expect(entry).toMatchObject({
      object: "audit.entry",
      decision: "served",
      content_mode: "full",
      api_key_id: acmeKeyId,
    });
    expect(entry.policy_hash).toMatch(/^[0-9a-f]{64}$/);
    const ids = new Set(first.body.data.map((x: Json) => x.id));
    let cursor = first.body.next_cursor;
    while (cursor) {
      const next = await usage(`/v1/audit?limit=5&cursor=${cursor}`);
      for (const x of next.body.data) {
        expect(ids.has(x.id)).toBe(false);
        ids.add(x.id);
      }
      cursor = next.body.next_cursor;
    }
    expect(ids.size).toBe(13);
    const res = await fetch(`${h.url}/v1/audit/export`, { headers: { authorization: `Bearer ${acmeKey}` } });
    expect(res.headers.get("content-type")).toMatch(/application\/x-ndjson/);
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(13);
    expect(lines.every((l) => l.api_key_id === acmeKeyId)).toBe(true);
  });
});
