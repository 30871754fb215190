// Requests-per-minute, tokens-per-minute and concurrency limits, per tenant and optionally per
// API key and per end user. Each rate is a token bucket refilled continuously (capacity = the
// per-minute limit) stored in one Redis hash; concurrency is a sorted set of leases scored by
// expiry, so a crashed router's leases lapse on their own. Tokens are taken at admission for the
// worst case (prompt estimate + max output) and corrected at settlement: admission can never
// overshoot a TPM limit by more than one request's estimate error, however many run at once.

import { ApiError } from "../core/errors.ts";
import type { KeySpace, ScopeRef } from "../core/redis-keys.ts";
import type { RequestContext } from "../core/request-context.ts";

export type RateLimits = { requestsPerMinute?: number; tokensPerMinute?: number; maxConcurrent?: number };
export type LimitScope = { ref: ScopeRef; limits: RateLimits; bucketKey: string; leaseKey: string };

const hasAny = (l: RateLimits | undefined): l is RateLimits =>
  !!l && !!(l.requestsPerMinute || l.tokensPerMinute || l.maxConcurrent);

/** The scopes that apply to a request: the tenant's own, then per key, then per end user. */
export function limitScopes(keys: KeySpace, ctx: RequestContext): LimitScope[] {
  const tenant = ctx.tenant.metadata.name;
  const lim = ctx.tenant.spec.limits;
  const out: LimitScope[] = [];
  const add = (ref: ScopeRef, limits: RateLimits | undefined) => {
    if (hasAny(limits)) {
      out.push({ ref, limits, bucketKey: keys.rateBucket(tenant, ref), leaseKey: keys.leases(tenant, ref) });
    }
  };
  add({ kind: "tenant" }, lim);
  add({ kind: "key", id: ctx.keyId }, lim?.perKey);
  if (ctx.endUser) add({ kind: "user", id: ctx.endUser }, lim?.perUser);
  return out;
}

/**
 * Lua helpers for the admission script (see admission.ts). A bucket hash holds r (request
 * tokens), t (token tokens) and ts (ms of the last update); a missing hash is a full bucket.
 */
export const LIMITS_LUA = `
-- Numbers go to Redis as strings: Lua numbers handed to redis.call are formatted with
-- "%.17g" (a slow floating-point path); every one passed here is a whole number, and int()
-- writes the same digits through the integer path.
local function int(n) return string.format('%d', n) end

local function refill(have, cap, elapsed)
  if cap <= 0 then return 0 end
  if have == nil then return cap end
  return math.min(cap, have + elapsed * cap / 60000)
end

-- Returns nil when the scope admits the request, else {dimension, retry_after_ms}.
local function check_scope(s, now, want)
  local h = redis.call('HMGET', s.bucket, 'r', 't', 'ts')
  local elapsed = math.max(0, now - (tonumber(h[3]) or now))
  s.r = refill(tonumber(h[1]), s.rpm, elapsed)
  s.t = refill(tonumber(h[2]), s.tpm, elapsed)
  if s.rpm > 0 and s.r < 1 then return {'requests', math.ceil((1 - s.r) * 60000 / s.rpm)} end
  if s.tpm > 0 then
    if want > s.tpm then return {'tokens_too_large', -1} end
    if s.t < want then return {'tokens', math.ceil((want - s.t) * 60000 / s.tpm)} end
  end
  if s.mc > 0 then
    redis.call('ZREMRANGEBYSCORE', s.leases, '-inf', int(now))
    s.inflight = redis.call('ZCARD', s.leases)
    if s.inflight >= s.mc then
      return {'concurrent', 1000}
    end
  end
  return nil
end

local function keep_ms(cap, have)
  if cap <= 0 then return 0 end
  return math.ceil((cap - have) * 60000 / cap) + 1000
end

local function apply_scope(s, now, want, id, lease_ms)
  if s.rpm > 0 or s.tpm > 0 then
    if s.rpm > 0 then s.r = s.r - 1 end
    if s.tpm > 0 then s.t = s.t - want end
    redis.call('HSET', s.bucket, 'r', tostring(s.r), 't', tostring(s.t), 'ts', int(now))
    redis.call('PEXPIRE', s.bucket, int(math.max(keep_ms(s.rpm, s.r), keep_ms(s.tpm, s.t), 1000)))
  end
  if s.mc > 0 then
    redis.call('ZADD', s.leases, int(now + lease_ms), id)
    redis.call('PEXPIRE', s.leases, int(lease_ms + 1000))
  end
end

-- Settlement: the lease goes, and the token bucket is corrected by (reserved - actual) tokens.
local function settle_scope(s, now, refund, id)
  if s.mc > 0 then redis.call('ZREM', s.leases, id) end
  if s.tpm > 0 and refund ~= 0 then
    local h = redis.call('HMGET', s.bucket, 'r', 't', 'ts')
    if h[3] then
      local elapsed = math.max(0, now - tonumber(h[3]))
      local r = refill(tonumber(h[1]), s.rpm, elapsed)
      local t = math.min(s.tpm, refill(tonumber(h[2]), s.tpm, elapsed) + refund)
      redis.call('HSET', s.bucket, 'r', tostring(r), 't', tostring(t), 'ts', int(now))
      redis.call('PEXPIRE', s.bucket, int(math.max(keep_ms(s.rpm, r), keep_ms(s.tpm, t), 1000)))
    end
  end
end
`;

/** Per-scope ARGV triple (rpm, tpm, max concurrent; 0 = unlimited). */
export const scopeArgs = (s: LimitScope): number[] => [
  s.limits.requestsPerMinute ?? 0,
  s.limits.tokensPerMinute ?? 0,
  s.limits.maxConcurrent ?? 0,
];

/** OpenAI writes reset durations like "1s", "6m0s", "20ms". */
export function formatReset(ms: number): string {
  if (ms <= 0) return "0s";
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** The bucket state of the tenant scope after admission, as OpenAI's x-ratelimit-* headers. */
export function rateLimitHeaders(
  limits: RateLimits,
  state: { r: number; t: number },
): Record<string, string> {
  const h: Record<string, string> = {};
  const rpm = limits.requestsPerMinute;
  const tpm = limits.tokensPerMinute;
  if (rpm) {
    const r = Math.max(0, Math.floor(state.r));
    h["x-ratelimit-limit-requests"] = String(rpm);
    h["x-ratelimit-remaining-requests"] = String(r);
    h["x-ratelimit-reset-requests"] = formatReset(((rpm - state.r) * 60000) / rpm);
  }
  if (tpm) {
    const t = Math.max(0, Math.floor(state.t));
    h["x-ratelimit-limit-tokens"] = String(tpm);
    h["x-ratelimit-remaining-tokens"] = String(t);
    h["x-ratelimit-reset-tokens"] = formatReset(((tpm - state.t) * 60000) / tpm);
  }
  return h;
}

const SCOPE_WORDS: Record<ScopeRef["kind"], string> = {
  tenant: "your organization",
  key: "this API key",
  user: "this end user",
};

export type LimitRejection = { scope: LimitScope; dimension: string; retryAfterMs: number };

/** 429 in OpenAI's shape; `reason` is the usage event's and the metric's reason label. */
export function limitError(
  rej: LimitRejection,
  headers: Record<string, string>,
  requested: number,
): { error: ApiError; reason: string } {
  const l = rej.scope.limits;
  const who = SCOPE_WORDS[rej.scope.ref.kind];
  const reason = `${rej.dimension === "tokens_too_large" ? "tokens" : rej.dimension}_limit_${rej.scope.ref.kind}`;
  const retry = Math.max(1, Math.ceil(rej.retryAfterMs / 1000));
  const all = { ...headers };
  let message: string;
  if (rej.dimension === "requests") {
    message = `Rate limit reached for requests per minute (RPM) on ${who}: Limit ${l.requestsPerMinute}. Please try again in ${formatReset(rej.retryAfterMs)}.`;
  } else if (rej.dimension === "tokens") {
    message = `Rate limit reached for tokens per minute (TPM) on ${who}: Limit ${l.tokensPerMinute}, Requested ${requested}. Please try again in ${formatReset(rej.retryAfterMs)}.`;
  } else if (rej.dimension === "tokens_too_large") {
    message = `Request too large for tokens per minute (TPM) on ${who}: Limit ${l.tokensPerMinute}, Requested ${requested} (prompt estimate + max output tokens). Reduce max_tokens or the prompt.`;
  } else {
    message = `Too many concurrent requests on ${who}: Limit ${l.maxConcurrent}. Please retry when one finishes.`;
  }
  if (rej.dimension !== "tokens_too_large") all["retry-after"] = String(retry);
  const code = rej.dimension === "tokens_too_large" ? "request_too_large" : "rate_limit_exceeded";
  return { error: new ApiError(429, message, { code, headers: all }), reason };
}
