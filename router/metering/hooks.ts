// The router's admit/settle hooks for metering. admit: price the request (no price, no service),
// then — only for tenants with limits or caps — one Lua call that checks every limit and
// reserves the worst-case cost; a refusal throws an ApiError after recording the rejection's
// usage event. settle: exactly once per request, never throws, never waits: builds the usage
// event and audit row, appends them to the spool, and settles the reservation in the background.

import type { Redis } from "ioredis";
import { ApiError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { KeySpace } from "../../core/redis-keys.ts";
import type { EarlyRejection, Hooks, Outcome, RequestContext } from "../../core/request-context.ts";
import { sleep } from "../../core/sleep.ts";
import { createAdmission, RedisUnavailable } from "../../metering/admission.ts";
import type { AlertSink } from "../../metering/alerts.ts";
import { buildAuditContent } from "../../metering/audit-record.ts";
import {
  type BudgetKeys,
  budgetKeys,
  type Caps,
  capError,
  capsOf,
  periodsAt,
} from "../../metering/budget.ts";
import { type LimitScope, limitError, limitScopes, rateLimitHeaders } from "../../metering/limits.ts";
import type { MeteringMetrics } from "../../metering/metrics.ts";
import {
  costOf,
  findPrice,
  microToUsd,
  notPriced,
  type PricedModel,
  type PriceTable,
} from "../../metering/prices.ts";
import type { Spool } from "../../metering/spool.ts";
import { buildUsageEvent } from "../../metering/usage-events.ts";

export type MeteringHooksDeps = {
  redis: Redis;
  keys: KeySpace;
  prices: PriceTable;
  spool: Spool;
  log: Logger;
  metrics?: MeteringMetrics;
  alerts?: AlertSink;
  /**
   * How long a request may wait on a Redis that accepts connections but does not answer before
   * the failure policy decides. Default 2 s. (An unreachable Redis is detected at once.)
   */
  redisTimeoutMs?: number;
  /** Longest a request can run; its concurrency lease and reservation lapse after this. Default 10 min. */
  leaseMs?: number;
  /**
   * Waits between the attempts to settle a reservation in Redis after a failed one; once they are
   * spent the reservation is left to lapse after leaseMs. Default 200 ms, 1 s, 5 s.
   */
  settleRetryMs?: readonly number[];
};

export type MeteringHooks = Hooks & {
  /** Records the usage event (and audit row) of a request refused before admit; never throws. */
  rejected(r: EarlyRejection): void;
  /** OpenAI's x-ratelimit-* headers for an admitted request; the router adds them to its response. */
  responseHeaders(ctx: RequestContext): Record<string, string>;
  /** The audit row keeps the conversation (or its hashes) unless the tenant's audit mode is none. */
  wantsPayload(ctx: RequestContext): boolean;
  /** Resolves when background settlements and spool appends have finished (shutdown, tests). */
  idle(): Promise<void>;
};

/** What admit() took from the shared limits store for one request; settle() gives back the rest. */
type Reservation = {
  scopes: LimitScope[];
  tokens: number;
  budget?: { keys: BudgetKeys; caps: Caps; day: string; month: string };
  headers: Record<string, string>;
  /** Admitted without Redis (fail-open): nothing was taken, so nothing is refunded. */
  unmetered: boolean;
};

declare module "../../core/request-context.ts" {
  interface RequestContext {
    /** Set by admit() when it reserved anything; read by settle(). */
    reservation?: Reservation;
  }
}

const DEFAULT_THRESHOLDS: number[] = [];
const SETTLE_RETRY_MS: readonly number[] = [200, 1_000, 5_000];

const pricedModel = (ctx: RequestContext): PricedModel => ({
  tenant: ctx.tenant.metadata.name,
  baseModel: ctx.model.baseModel,
  adapter: ctx.model.adapter
    ? { name: ctx.model.adapter.name, version: ctx.model.adapter.version }
    : undefined,
});

export function createMeteringHooks(deps: MeteringHooksDeps): MeteringHooks {
  const { keys, prices, spool, log, metrics } = deps;
  const admission = createAdmission(deps.redis, { timeoutMs: deps.redisTimeoutMs });
  const leaseMs = deps.leaseMs ?? 600_000;
  const settleRetryMs = deps.settleRetryMs ?? SETTLE_RETRY_MS;
  const background = new Set<Promise<unknown>>();

  function record(ctx: RequestContext, outcome: Outcome): void {
    const price = findPrice(prices, pricedModel(ctx));
    const cost = price
      ? costOf(price, outcome.promptTokens, outcome.completionTokens)
      : { inputMicro: 0, outputMicro: 0, totalMicro: 0 };
    const usage = buildUsageEvent(ctx, outcome, cost);
    spool.append({ ...usage, audit: buildAuditContent(ctx) });
    const st = ctx.reservation;
    if (st?.budget || (st && st.scopes.length > 0)) settleInRedis(ctx, st, cost.totalMicro, outcome);
  }

  function reject(ctx: RequestContext, error: ApiError, reason: string): never {
    metrics?.rejected(ctx.tenant.metadata.name, reason);
    ctx.stage = "rejected";
    record(ctx, {
      status: "rejected",
      httpStatus: error.status,
      promptTokens: 0,
      completionTokens: 0,
      durationMs: performance.now() - ctx.receivedAt,
      reason,
    });
    throw error;
  }

  function settleInRedis(ctx: RequestContext, st: Reservation, actualMicro: number, outcome: Outcome): void {
    const tenant = ctx.tenant.metadata.name;
    const used = outcome.promptTokens + outcome.completionTokens;
    const thresholds = ctx.tenant.spec.limits?.alertThresholds ?? DEFAULT_THRESHOLDS;
    const req = {
      id: ctx.requestId,
      scopes: st.scopes,
      refundTokens: st.unmetered ? 0 : st.tokens - used,
      budget: st.budget ? { keys: st.budget.keys, caps: st.budget.caps, actualMicro, thresholds } : undefined,
    };
    const attempt = async (): Promise<void> => {
      for (let i = 0; ; i++) {
        try {
          const res = await admission.settle(req);
          if (st.budget) afterSettle(ctx, st.budget, res);
          return;
        } catch (e) {
          if (i >= settleRetryMs.length) {
            // The reservation lapses on its own after leaseMs; Postgres still has the event.
            log.error(
              { tenant, requestId: ctx.requestId, err: (e as Error).message },
              "budget settlement failed",
            );
            return;
          }
          await sleep(settleRetryMs[i] ?? 0);
        }
      }
    };
    const p = attempt().finally(() => background.delete(p));
    background.add(p);
  }

  function afterSettle(
    ctx: RequestContext,
    b: NonNullable<Reservation["budget"]>,
    res: Awaited<ReturnType<typeof admission.settle>>,
  ): void {
    const tenant = ctx.tenant.metadata.name;
    const url = ctx.tenant.spec.limits?.alertWebhook;
    for (const [period, fig, cap, start] of [
      ["daily", res.daily, b.caps.dailyMicro, b.day],
      ["monthly", res.monthly, b.caps.monthlyMicro, b.month],
    ] as const) {
      metrics?.spend(tenant, period, microToUsd(fig.spentMicro));
      if (cap >= 0) metrics?.cap(tenant, period, microToUsd(cap));
      for (const threshold of fig.fired) {
        deps.alerts?.fire(
          {
            tenant,
            period,
            periodStart: start,
            threshold,
            spentUSD: microToUsd(fig.spentMicro),
            capUSD: microToUsd(cap),
            at: new Date().toISOString(),
          },
          url,
        );
      }
    }
  }

  return {
    async admit(ctx) {
      const price = findPrice(prices, pricedModel(ctx));
      if (!price) reject(ctx, notPriced(pricedModel(ctx)), "model_not_priced");
      const scopes = limitScopes(keys, ctx);
      const caps = capsOf(ctx);
      if (scopes.length === 0 && !caps) return; // nothing to enforce: no Redis on the hot path
      const tokens = Math.max(0, ctx.promptTokensEstimate) + Math.max(0, ctx.maxOutputTokens);
      const worst = costOf(price, ctx.promptTokensEstimate, ctx.maxOutputTokens).totalMicro;
      const now = Date.now();
      const per = periodsAt(now);
      const budget = caps
        ? { keys: budgetKeys(keys, ctx.tenant.metadata.name, per), caps, day: per.day, month: per.month }
        : undefined;
      let res: Awaited<ReturnType<typeof admission.admit>>;
      try {
        res = await admission.admit({
          id: ctx.requestId,
          scopes,
          tokens,
          leaseMs,
          budget: budget && { keys: budget.keys, caps, amountMicro: worst, reservationMs: leaseMs },
        } as Parameters<typeof admission.admit>[0]);
      } catch (e) {
        if (!(e instanceof RedisUnavailable)) throw e;
        const tenant = ctx.tenant.metadata.name;
        if (ctx.tenant.spec.limits?.failOpen) {
          log.warn({ tenant, err: e.message }, "limits store unreachable; serving without limits (failOpen)");
          ctx.reservation = { scopes, tokens, budget, headers: {}, unmetered: true };
          return;
        }
        log.error({ tenant, err: e.message }, "limits store unreachable; refusing (fail closed)");
        reject(
          ctx,
          new ApiError(
            503,
            "Rate limits and spend caps cannot be checked right now (the limits store is unreachable), " +
              "so this request was refused rather than served unchecked. Please retry shortly.",
            { code: "limits_unavailable", headers: { "retry-after": "2" } },
          ),
          "limits_unavailable",
        );
      }
      if ("limit" in res) {
        const headers = scopes[0] ? rateLimitHeaders(scopes[0].limits, res.state) : {};
        const { error, reason } = limitError(res.limit, headers, tokens);
        reject(ctx, error, reason);
      }
      if ("cap" in res) {
        const { error, reason } = capError(res.cap, caps!, worst, now);
        reject(ctx, error, reason);
      }
      const headers = scopes[0] ? rateLimitHeaders(scopes[0].limits, res.state) : {};
      ctx.reservation = { scopes, tokens, budget, headers, unmetered: false };
    },

    settle(ctx, outcome) {
      if (ctx.stage === "settled" || ctx.stage === "rejected") return;
      ctx.stage = "settled";
      try {
        record(ctx, outcome);
      } catch (e) {
        log.error({ requestId: ctx.requestId, err: (e as Error).message }, "usage settlement failed");
      }
    },

    rejected(r) {
      try {
        const model = r.model?.slice(0, 256) ?? "";
        const ctx: RequestContext = {
          requestId: r.requestId,
          receivedAt: r.receivedAt,
          endpoint: r.endpoint,
          tenant: r.tenant,
          keyId: r.keyId,
          model: { requested: model, baseModel: model },
          stream: false,
          promptTokensEstimate: 0,
          maxOutputTokens: 0,
          stage: "rejected",
        };
        metrics?.rejected(r.tenant.metadata.name, `before_admission_${r.httpStatus}`);
        const usage = buildUsageEvent(
          ctx,
          {
            status: "rejected",
            httpStatus: r.httpStatus,
            promptTokens: 0,
            completionTokens: 0,
            durationMs: performance.now() - r.receivedAt,
            reason: r.reason,
          },
          { inputMicro: 0, outputMicro: 0, totalMicro: 0 },
        );
        spool.append({ ...usage, audit: buildAuditContent(ctx) });
      } catch (e) {
        log.error({ requestId: r.requestId, err: (e as Error).message }, "recording a rejection failed");
      }
    },

    responseHeaders: (ctx) => ctx.reservation?.headers ?? {},

    wantsPayload: (ctx) => ctx.tenant.spec.audit.mode !== "none",

    async idle() {
      while (background.size > 0) await Promise.allSettled([...background]);
      await spool.flush();
    },
  };
}
