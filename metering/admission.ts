// One Redis round trip per admission and one per settlement: a single Lua script checks every
// rate-limit scope and both spend caps, and only if all pass takes the tokens, the concurrency
// leases and the budget reservation — all or nothing, atomically, across any number of routers.
import { hash } from "node:crypto";
import type { Redis } from "ioredis";
import {
  BUDGET_LUA,
  type BudgetKeys,
  type CapRejection,
  type Caps,
  DAY_KEEP_MS,
  MONTH_KEEP_MS,
} from "./budget.ts";
import { LIMITS_LUA, type LimitRejection, type LimitScope, scopeArgs } from "./limits.ts";

// ARGV: id, n, want, lease_ms, amount, cap_d, cap_m, resv_ms, keep_d, keep_m, then 3 per scope.
// KEYS: bucket and leases per scope, then (when capped) day hash, day set, month hash, month set.
const ADMIT_LUA = `${LIMITS_LUA}${BUDGET_LUA}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, n, want, lease_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local amount, cap_d, cap_m = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local resv_ms, keep_d, keep_m = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local scopes = {}
for i = 1, n do
  local a = 10 + (i - 1) * 3
  scopes[i] = {bucket = KEYS[2*i-1], leases = KEYS[2*i], rpm = tonumber(ARGV[a+1]), tpm = tonumber(ARGV[a+2]), mc = tonumber(ARGV[a+3])}
  local bad = check_scope(scopes[i], now, want)
  if bad then
    return {0, i, bad[1], bad[2], tostring(scopes[1].r or 0), tostring(scopes[1].t or 0)}
  end
end
local capped = #KEYS >= 2*n + 4
if capped then
  local bd, bdx, bm, bmx = KEYS[2*n+1], KEYS[2*n+2], KEYS[2*n+3], KEYS[2*n+4]
  local bad, resv_d = check_cap('daily', bd, bdx, cap_d, amount, now)
  if bad then return {2, bad[1], bad[2], bad[3]} end
  local bad_m, resv_m = check_cap('monthly', bm, bmx, cap_m, amount, now)
  if bad_m then return {2, bad_m[1], bad_m[2], bad_m[3]} end
  reserve(bd, bdx, cap_d, amount, id, now, resv_ms, keep_d, resv_d)
  reserve(bm, bmx, cap_m, amount, id, now, resv_ms, keep_m, resv_m)
end
for i = 1, n do apply_scope(scopes[i], now, want, id, lease_ms) end
if n > 0 then return {1, tostring(scopes[1].r), tostring(scopes[1].t)} end
return {1, '0', '0'}
`;

// ARGV: id, n, refund_tokens, actual, cap_d, cap_m, keep_d, keep_m, thresholds csv, 3 per scope.
const SETTLE_LUA = `${LIMITS_LUA}${BUDGET_LUA}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, n, refund, actual = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cap_d, cap_m, keep_d, keep_m = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local thresholds = {}
for pct in string.gmatch(ARGV[9], '[^,]+') do table.insert(thresholds, tonumber(pct)) end
for i = 1, n do
  local a = 9 + (i - 1) * 3
  local s = {bucket = KEYS[2*i-1], leases = KEYS[2*i], rpm = tonumber(ARGV[a+1]), tpm = tonumber(ARGV[a+2]), mc = tonumber(ARGV[a+3])}
  settle_scope(s, now, refund, id)
end
if #KEYS >= 2*n + 4 then
  local sd, rd, fd = settle_cap(KEYS[2*n+1], KEYS[2*n+2], cap_d, actual, id, thresholds, keep_d)
  local sm, rm, fm = settle_cap(KEYS[2*n+3], KEYS[2*n+4], cap_m, actual, id, thresholds, keep_m)
  return {sd, rd, sm, rm, table.concat(fd, ','), table.concat(fm, ',')}
end
return {0, 0, 0, 0, '', ''}
`;

/**
 * A script sent by its SHA-1 (Redis keeps scripts it has run); the source follows only when Redis
 * answers NOSCRIPT (after a restart or SCRIPT FLUSH). ioredis' defineCommand does the same
 * through a command subclass, a closure and a WeakSet lookup per call: measured, a quarter of
 * a script call's client-side CPU, twice per request.
 */
type Script = { lua: string; sha: string };
const script = (lua: string): Script => ({ lua, sha: hash("sha1", lua, "hex") });
const ADMIT = script(ADMIT_LUA);
const SETTLE = script(SETTLE_LUA);

function runScript(redis: Redis, s: Script, keys: string[], argv: (string | number)[]): Promise<unknown[]> {
  return (redis.evalsha(s.sha, keys.length, ...keys, ...argv) as Promise<unknown[]>).catch((e: Error) => {
    if (!e.message?.includes("NOSCRIPT")) throw e;
    return redis.eval(s.lua, keys.length, ...keys, ...argv) as Promise<unknown[]>;
  });
}

export class RedisUnavailable extends Error {}

/** False while ioredis is between connections: a command would sit in its offline queue. */
export function redisUsable(redis: Redis): boolean {
  return (
    redis.status === "ready" ||
    redis.status === "connect" ||
    redis.status === "connecting" ||
    redis.status === "wait"
  );
}

export type AdmitRequest = {
  id: string;
  scopes: LimitScope[];
  tokens: number;
  leaseMs: number;
  budget?: { keys: BudgetKeys; caps: Caps; amountMicro: number; reservationMs: number };
};

export type AdmitResult =
  | { ok: true; state: { r: number; t: number } }
  | { ok: false; limit: LimitRejection; state: { r: number; t: number } }
  | { ok: false; cap: CapRejection };

export type SettleRequest = {
  id: string;
  scopes: LimitScope[];
  refundTokens: number;
  budget?: { keys: BudgetKeys; caps: Caps; actualMicro: number; thresholds: number[] };
};

export type SettleResult = {
  daily: { spentMicro: number; reservedMicro: number; fired: number[] };
  monthly: { spentMicro: number; reservedMicro: number; fired: number[] };
};

const scopeKeys = (scopes: LimitScope[]) => scopes.flatMap((s) => [s.bucketKey, s.leaseKey]);
const budgetKeyList = (k: BudgetKeys) => [k.day, k.dayResv, k.month, k.monthResv];
const csvNumbers = (v: unknown) => (String(v) === "" ? [] : String(v).split(",").map(Number));

export type Admission = {
  admit(req: AdmitRequest): Promise<AdmitResult>;
  settle(req: SettleRequest): Promise<SettleResult>;
};

/** `timeoutMs` bounds how long a request waits on Redis before the failure policy applies. */
export function createAdmission(redis: Redis, opts: { timeoutMs?: number } = {}): Admission {
  const timeoutMs = opts.timeoutMs ?? 2_000;

  // The offline queue would park commands until Redis returns; a request must not wait that long.
  async function call(run: () => Promise<unknown[]>): Promise<unknown[]> {
    if (!redisUsable(redis)) throw new RedisUnavailable(`redis is ${redis.status}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      // setImmediate runs after the event loop's I/O poll: a reply that arrived while the loop
      // was busy (a load spike, not a Redis outage) still wins over the timer.
      timer = setTimeout(
        () => setImmediate(() => reject(new RedisUnavailable(`redis did not answer in ${timeoutMs} ms`))),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([run(), timeout]);
    } catch (e) {
      throw e instanceof RedisUnavailable ? e : new RedisUnavailable((e as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async admit(req) {
      const b = req.budget;
      const keys = [...scopeKeys(req.scopes), ...(b ? budgetKeyList(b.keys) : [])];
      const argv = [
        req.id,
        req.scopes.length,
        req.tokens,
        req.leaseMs,
        b?.amountMicro ?? 0,
        b?.caps.dailyMicro ?? -1,
        b?.caps.monthlyMicro ?? -1,
        b?.reservationMs ?? 0,
        DAY_KEEP_MS,
        MONTH_KEEP_MS,
        ...req.scopes.flatMap(scopeArgs),
      ];
      const res = await call(() => runScript(redis, ADMIT, keys, argv));
      if (res[0] === 1) return { ok: true, state: { r: Number(res[1]), t: Number(res[2]) } };
      if (res[0] === 2) {
        return {
          ok: false,
          cap: {
            period: res[1] as "daily" | "monthly",
            spentMicro: Number(res[2]),
            reservedMicro: Number(res[3]),
          },
        };
      }
      const scope = req.scopes[Number(res[1]) - 1]!;
      return {
        ok: false,
        limit: { scope, dimension: String(res[2]), retryAfterMs: Number(res[3]) },
        state: { r: Number(res[4]), t: Number(res[5]) },
      };
    },

    async settle(req) {
      const b = req.budget;
      const keys = [...scopeKeys(req.scopes), ...(b ? budgetKeyList(b.keys) : [])];
      const argv = [
        req.id,
        req.scopes.length,
        req.refundTokens,
        b?.actualMicro ?? 0,
        b?.caps.dailyMicro ?? -1,
        b?.caps.monthlyMicro ?? -1,
        DAY_KEEP_MS,
        MONTH_KEEP_MS,
        (b?.thresholds ?? []).join(","),
        ...req.scopes.flatMap(scopeArgs),
      ];
      const res = await call(() => runScript(redis, SETTLE, keys, argv));
      return {
        daily: { spentMicro: Number(res[0]), reservedMicro: Number(res[1]), fired: csvNumbers(res[4]) },
        monthly: { spentMicro: Number(res[2]), reservedMicro: Number(res[3]), fired: csvNumbers(res[5]) },
      };
    },
  };
}
