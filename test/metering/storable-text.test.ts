// Whatever text a client sends, every request it makes is billed and audited exactly once:
// arbitrary UTF-16 (NUL, lone surrogates, pairs cut by the length bound) in every
// client-controlled field goes through the real hooks, spool, writer and Postgres. Items 1 of
// issue 13: before, such events were refused by Postgres and only dead-lettered.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryFields, type SpoolEntry } from "../../metering/spool.ts";
import { buildUsageEvent } from "../../metering/usage-events.ts";
import { anyText } from "../support/arbitrary-text.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { ctxFor, ok, type TestRedis, tenant, testRedis } from "./harness.ts";
import { type Harness, startHarness } from "./harness-api.ts";

describe("client text and the billing/audit trail (property)", () => {
  let db: TestDb;
  let r: TestRedis;
  let h: Harness;
  const acme = tenant("acme", { audit: { mode: "full", retentionDays: 30 } });

  beforeAll(async () => {
    db = await testDb("storable_text");
    r = testRedis("storable-text");
    h = await startHarness(db, r, [acme]);
  });
  afterAll(async () => {
    await h?.close();
    await db?.cleanup();
    await r?.cleanup();
  });

  const rowsOf = async (requestId: string) => {
    const usage = await db.pool.query("SELECT end_user, model FROM usage_events WHERE request_id = $1", [
      requestId,
    ]);
    const audit = await db.pool.query(
      "SELECT prompt, response, repaired FROM audit_log WHERE request_id = $1",
      [requestId],
    );
    return { usage: usage.rows, audit: audit.rows };
  };

  it("each request has exactly one usage row and one audit row, whatever its text", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          endUser: anyText(300),
          feature: anyText(140),
          model: anyText(300),
          prompt: anyText(200),
          response: anyText(200),
        }),
        async (t) => {
          const ctx = ctxFor(acme, {
            endUser: t.endUser,
            feature: t.feature,
            model: { requested: t.model, baseModel: "base-8b" },
          });
          ctx.audit = { prompt: t.prompt, response: t.response };
          await h.meter(ctx, ok(10, 5));
          await h.flush();
          const { usage, audit } = await rowsOf(ctx.requestId);
          expect(usage).toHaveLength(1);
          expect(audit).toHaveLength(1);
          // Repaired text keeps the hash of what was sent; untouched text is stored as sent.
          if (t.prompt.isWellFormed() && !t.prompt.includes("\0")) expect(audit[0].prompt).toBe(t.prompt);
          else expect(audit[0].repaired.prompt).toMatch(/^[0-9a-f]{64}$/);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the writer repairs an event that reached the spool unrepaired instead of dead-lettering it", async () => {
    // An event as an older router (or a bug) might spool it: NUL and a lone surrogate verbatim.
    const ctx = ctxFor(acme, { endUser: "plain" });
    const event: SpoolEntry = {
      ...buildUsageEvent(ctx, ok(3, 4), { inputMicro: 1, outputMicro: 2, totalMicro: 3 }),
      audit: null,
    };
    event.endUser = "nul\0and\ud800lone";
    event.reason = "model 'x\0' refused";
    await r.redis.xadd(r.keys.spool(), "*", ...entryFields(event));
    await h.flush();
    const { usage } = await rowsOf(ctx.requestId);
    expect(usage).toHaveLength(1);
    expect(usage[0].end_user).toBe("nul\uFFFDand\uFFFDlone");
    expect(await r.redis.xlen(`${r.keys.spool()}:dead`)).toBe(0);
  });
});
