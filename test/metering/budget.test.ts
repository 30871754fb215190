import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "../../core/errors.ts";
import type { RequestContext } from "../../core/request-context.ts";
import { createAlertSink, signWebhook, webhookSecretFor } from "../../metering/alerts.ts";
import { periodsAt } from "../../metering/budget.ts";
import { parsePriceTable } from "../../metering/prices.ts";
import { createSpool } from "../../metering/spool.ts";
import { createMeteringHooks, type MeteringHooks } from "../../router/metering/hooks.ts";
import { freePort } from "../support/process.ts";
import { ctxFor, log, ok, PRICES, type TestRedis, tenant, testRedis } from "./harness.ts";

// base-8b: $0.5 / 1k input, $1.5 / 1k output. 100 + 100 tokens at worst = $0.20.
const WORST = 0.2;

async function refused(p: Promise<void>): Promise<ApiError | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
}

describe("spend caps: reservation, settlement, expiry, alerts (real Redis)", () => {
  let r: TestRedis;
  let hooks: MeteringHooks;
  let shortLease: MeteringHooks;
  let server: Server;
  let hookUrl: string;
  const received: { body: string; signature: string; failFirst: boolean }[] = [];
  let failNext = 1; // the receiver fails its first delivery to prove the retry
  const ROOT_SECRET = "test-root-secret-for-alert-webhooks";
  const alerts = createAlertSink({ log, webhookSecret: ROOT_SECRET, baseDelayMs: 20 });

  beforeAll(async () => {
    r = testRedis("budget");
    const deps = {
      redis: r.redis,
      keys: r.keys,
      prices: parsePriceTable(PRICES),
      spool: createSpool({ redis: r.redis, stream: r.keys.spool(), log }),
      log,
      alerts,
    };
    hooks = createMeteringHooks(deps);
    shortLease = createMeteringHooks({ ...deps, leaseMs: 300 });
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const failFirst = failNext-- > 0;
        received.push({ body, signature: String(req.headers["x-loraplex-signature"]), failFirst });
        res.writeHead(failFirst ? 503 : 204).end();
      });
    });
    const port = await freePort();
    await new Promise<void>((ok) => server.listen(port, "127.0.0.1", ok));
    hookUrl = `http://127.0.0.1:${port}/alerts`;
  });
  afterAll(async () => {
    await hooks.idle();
    await alerts.idle();
    server.close();
    await r.cleanup();
  });

  const spent = async (tenantName: string) => {
    const day = periodsAt(Date.now()).day;
    const [s, resv] = await r.redis.hmget(r.keys.dayBudget(tenantName, day), "spent", "resv");
    return { spent: Number(s ?? 0) / 1e6, reserved: Number(resv ?? 0) / 1e6 };
  };

  it("admits only what fits under the cap at worst-case cost, then settles to actual", async () => {
    const t = tenant("cap-co", { limits: { dailySpendUSD: 1 } });
    const admitted: RequestContext[] = [];
    let rejectedErr: ApiError | undefined;
    for (let i = 0; i < 7; i++) {
      const ctx = ctxFor(t);
      const err = await refused(hooks.admit(ctx));
      if (err) rejectedErr = err;
      else admitted.push(ctx);
    }
    expect(admitted).toHaveLength(Math.floor(1 / WORST));
    expect(rejectedErr?.status).toBe(429);
    expect(rejectedErr?.type).toBe("insufficient_quota");
    expect(rejectedErr?.message).toMatch(/daily spend cap of \$1\.0000/);
    expect((await spent("cap-co")).reserved).toBeCloseTo(1, 6);
    // 100 prompt + 50 completion = $0.125 each.
    for (const ctx of admitted) hooks.settle(ctx, ok(100, 50));
    await hooks.idle();
    expect(await spent("cap-co")).toEqual({ spent: 0.625, reserved: 0 });
    // $0.375 left: one more worst-case request fits, a second does not.
    await hooks.admit(ctxFor(t));
    expect((await refused(hooks.admit(ctxFor(t))))?.status).toBe(429);
  });

  it("releases the reservation of a request that failed without tokens", async () => {
    const t = tenant("release-co", { limits: { dailySpendUSD: 0.3 } });
    const ctx = ctxFor(t);
    await hooks.admit(ctx);
    expect((await refused(hooks.admit(ctxFor(t))))?.status).toBe(429);
    hooks.settle(ctx, {
      status: "upstream_error",
      httpStatus: 502,
      promptTokens: 0,
      completionTokens: 0,
      durationMs: 5,
    });
    await hooks.idle();
    expect(await spent("release-co")).toEqual({ spent: 0, reserved: 0 });
    await hooks.admit(ctxFor(t));
  });

  it("charges the tokens a disconnected client consumed", async () => {
    const t = tenant("disconnect-co", { limits: { dailySpendUSD: 10 } });
    const ctx = ctxFor(t);
    await hooks.admit(ctx);
    hooks.settle(ctx, {
      status: "client_disconnect",
      httpStatus: 499,
      promptTokens: 100,
      completionTokens: 20,
      durationMs: 9,
    });
    await hooks.idle();
    expect(await spent("disconnect-co")).toEqual({ spent: 0.08, reserved: 0 });
  });

  it("lets a crashed router's reservations expire", async () => {
    const t = tenant("crash-co", { limits: { dailySpendUSD: 0.4 } });
    await shortLease.admit(ctxFor(t));
    await shortLease.admit(ctxFor(t));
    // Never settled: the router "crashed". The cap is full until the reservations lapse.
    expect((await refused(shortLease.admit(ctxFor(t))))?.status).toBe(429);
    await new Promise((ok) => setTimeout(ok, 400));
    await shortLease.admit(ctxFor(t));
    expect((await spent("crash-co")).reserved).toBeCloseTo(WORST, 6);
  });

  it("refuses everything when a cap is lowered below what was already spent", async () => {
    const t = tenant("lowered-co", { limits: { dailySpendUSD: 5 } });
    const ctx = ctxFor(t);
    await hooks.admit(ctx);
    hooks.settle(ctx, ok(100, 100));
    await hooks.idle();
    const lowered = tenant("lowered-co", { limits: { dailySpendUSD: 0.1 } });
    const err = await refused(hooks.admit(ctxFor(lowered)));
    expect(err?.status).toBe(429);
    expect(Number(err?.headers["retry-after"])).toBeGreaterThan(0);
  });

  it("fires each threshold once per period: log, counter and a signed webhook retried on failure", async () => {
    const t = tenant("alert-co", {
      limits: { dailySpendUSD: 1, alertThresholds: [50, 80, 100], alertWebhook: hookUrl },
    });
    // $0.2 per request (100 + 100 tokens): 50% after 3, 80% after 4, 100% after 5.
    for (let i = 0; i < 5; i++) {
      const ctx = ctxFor(t);
      await hooks.admit(ctx);
      hooks.settle(ctx, ok(100, 100));
      await hooks.idle();
    }
    await alerts.idle();
    const delivered = received.filter((x) => !x.failFirst);
    const bodies = delivered.map(
      (x) => JSON.parse(x.body) as { threshold: number; tenant: string; period: string },
    );
    expect(
      bodies
        .filter((b) => b.period === "daily")
        .map((b) => b.threshold)
        .sort((a, b) => a - b),
    ).toEqual([50, 80, 100]);
    expect(received.some((x) => x.failFirst)).toBe(true);
    for (const d of delivered) {
      const [tPart] = d.signature.split(",");
      const ts = Number(tPart!.slice(2));
      expect(d.signature).toBe(signWebhook(webhookSecretFor(ROOT_SECRET, "alert-co"), d.body, ts));
    }
    // Nothing new fires for the same thresholds in the same period.
    const before = received.length;
    const more = ctxFor(t, { maxOutputTokens: 0, promptTokensEstimate: 0 });
    await hooks.admit(more);
    hooks.settle(more, ok(0, 0));
    await hooks.idle();
    await alerts.idle();
    expect(received.length).toBe(before);
  });
});
