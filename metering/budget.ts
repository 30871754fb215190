// Daily and monthly spend caps in USD. Before forwarding, a request reserves its worst-case cost
// (prompt estimate + max output tokens at list price) inside the same Lua script that checks the
// rate limits; it is admitted only if spent + reserved + this reservation stays within each cap.
// Settlement turns the reservation into the actual cost (0 on an error with no tokens), so spend
// never exceeds a cap by more than how much one request's actual cost exceeds its estimate.
// Reservations are recorded per request with an expiry; every admission first sweeps expired
// ones, so a crashed router's reservations lapse without a separate process.

import { ApiError } from "../core/errors.ts";
import type { KeySpace } from "../core/redis-keys.ts";
import type { RequestContext } from "../core/request-context.ts";
import { usdToMicro } from "./prices.ts";

export type Period = "daily" | "monthly";
export type Caps = { dailyMicro: number; monthlyMicro: number }; // -1 = no cap

export function capsOf(ctx: RequestContext): Caps | undefined {
  const l = ctx.tenant.spec.limits;
  if (l?.dailySpendUSD === undefined && l?.monthlySpendUSD === undefined) return undefined;
  return {
    dailyMicro: l.dailySpendUSD === undefined ? -1 : usdToMicro(l.dailySpendUSD),
    monthlyMicro: l.monthlySpendUSD === undefined ? -1 : usdToMicro(l.monthlySpendUSD),
  };
}

export type Periods = { day: string; month: string; dayEndsAt: number; monthEndsAt: number };

// Every admission asks for the periods of "now"; the answer only changes at midnight UTC, so the
// last one is kept with the bounds of its day (no Date formatting per request).
let lastPeriods: (Periods & { dayStartsAt: number }) | undefined;

/** UTC calendar periods: the budget keys of the period a request is admitted in. */
export function periodsAt(ms: number): Periods {
  const hit = lastPeriods;
  if (hit && ms >= hit.dayStartsAt && ms < hit.dayEndsAt) return hit;
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  const day = d.toISOString().slice(0, 10);
  const p = {
    day,
    month: day.slice(0, 7),
    dayStartsAt: Date.UTC(y, mo, d.getUTCDate()),
    dayEndsAt: Date.UTC(y, mo, d.getUTCDate() + 1),
    monthEndsAt: Date.UTC(y, mo + 1, 1),
  };
  lastPeriods = Object.freeze(p);
  return p;
}

export type BudgetKeys = { day: string; dayResv: string; month: string; monthResv: string };

export function budgetKeys(keys: KeySpace, tenant: string, at: { day: string; month: string }): BudgetKeys {
  return {
    day: keys.dayBudget(tenant, at.day),
    dayResv: keys.dayReservations(tenant, at.day),
    month: keys.monthBudget(tenant, at.month),
    monthResv: keys.monthReservations(tenant, at.month),
  };
}

// A period hash holds `spent`, `resv` (sum of open reservations), `r:<id>` per open reservation
// and `a:<pct>` once a threshold alert fired; its sorted set scores reservation ids by expiry.
// Every Redis call inside a script costs the (single-threaded) server a microsecond or two, so
// figures read once are carried along and written back with one HSET instead of being re-read
// or incremented field by field (the script runs atomically: nothing changes them in between).
// (int() is LIMITS_LUA's, which every script puts first.)
export const BUDGET_LUA = `

local function sweep(h, z, now)
  local ids = redis.call('ZRANGEBYSCORE', z, '-inf', int(now), 'LIMIT', '0', '200')
  for _, rid in ipairs(ids) do
    local a = tonumber(redis.call('HGET', h, 'r:' .. rid) or '0')
    if a ~= 0 then redis.call('HINCRBY', h, 'resv', int(-a)) end
    redis.call('HDEL', h, 'r:' .. rid)
    redis.call('ZREM', z, rid)
  end
end

local function figures(h)
  local v = redis.call('HMGET', h, 'spent', 'resv')
  return tonumber(v[1] or '0'), tonumber(v[2] or '0')
end

-- nil and the open reservations when the reservation fits under the cap, else {period, spent, reserved}.
local function check_cap(period, h, z, cap, amount, now)
  if cap < 0 then return nil end
  sweep(h, z, now)
  local spent, resv = figures(h)
  if spent + resv + amount > cap then return {period, spent, resv} end
  return nil, resv
end

-- resv: the open reservations check_cap just read.
local function reserve(h, z, cap, amount, id, now, resv_ms, keep_ms, resv)
  if cap < 0 then return end
  redis.call('HSET', h, 'resv', int(resv + amount), 'r:' .. id, int(amount))
  redis.call('ZADD', z, int(now + resv_ms), id)
  redis.call('PEXPIRE', h, int(keep_ms))
  redis.call('PEXPIRE', z, int(keep_ms))
end

-- Converts the reservation to actual spend (also when it was swept: the request was served).
-- Returns spent, reserved and the thresholds that crossed for the first time in this period.
-- A hash with neither spent nor resv does not exist (reserve always writes resv): the tenant
-- was erased while this request ran, and there is nothing to record.
local function settle_cap(h, z, cap, actual, id, thresholds, keep_ms)
  local v = redis.call('HMGET', h, 'r:' .. id, 'resv', 'spent')
  if not v[2] and not v[3] then return 0, 0, {} end
  local resv = tonumber(v[2] or '0')
  if v[1] then
    resv = resv - tonumber(v[1])
    redis.call('HDEL', h, 'r:' .. id)
    redis.call('ZREM', z, id)
  end
  local spent = tonumber(v[3] or '0') + actual
  redis.call('HSET', h, 'resv', int(resv), 'spent', int(spent))
  redis.call('PEXPIRE', h, int(keep_ms))
  local fired = {}
  if cap >= 0 then
    for _, pct in ipairs(thresholds) do
      if spent * 100 >= cap * pct and redis.call('HSETNX', h, 'a:' .. pct, '1') == 1 then
        table.insert(fired, pct)
      end
    end
  end
  return spent, resv, fired
end
`;

/** Keys live past their period so a late settlement still finds them and the dashboard can read them. */
export const DAY_KEEP_MS = 3 * 86_400_000;
export const MONTH_KEEP_MS = 40 * 86_400_000;

export type CapRejection = { period: Period; spentMicro: number; reservedMicro: number };

/**
 * 429 insufficient_quota when a cap is reached. Retry-After: the period's end when spend alone
 * is the obstacle, a few seconds when open reservations may still be released.
 */
export function capError(
  rej: CapRejection,
  caps: Caps,
  amountMicro: number,
  now: number,
): { error: ApiError; reason: string } {
  const p = periodsAt(now);
  const cap = rej.period === "daily" ? caps.dailyMicro : caps.monthlyMicro;
  const endsAt = rej.period === "daily" ? p.dayEndsAt : p.monthEndsAt;
  const spentOnly = rej.spentMicro + amountMicro > cap;
  const retry = spentOnly ? Math.ceil((endsAt - now) / 1000) : 2;
  const usd = (m: number) => (m / 1e6).toFixed(4);
  const message =
    `Your ${rej.period} spend cap of $${usd(cap)} would be exceeded: spent $${usd(rej.spentMicro)}, ` +
    `$${usd(rej.reservedMicro)} reserved by requests in flight, this request may cost up to $${usd(amountMicro)}. ` +
    (spentOnly
      ? `The cap resets at ${new Date(endsAt).toISOString()}.`
      : "Retry when requests in flight finish, or lower max_tokens.");
  return {
    error: new ApiError(429, message, {
      type: "insufficient_quota",
      code: "insufficient_quota",
      headers: { "retry-after": String(Math.max(1, retry)) },
    }),
    reason: `${rej.period}_cap`,
  };
}
