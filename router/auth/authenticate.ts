// Bearer API key → tenant. On a cache hit this is two Map lookups (key cache, tenant store);
// the tenant is looked up on every request so a deleted Tenant locks its keys out at once.
import type { Redis } from "ioredis";
import { type KeyStore, looksLikeTenantKey } from "../../api-keys/api-keys.ts";
import { createKeyCache, type KeyCache } from "../../api-keys/key-cache.ts";
import { ApiError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import type { Authenticated } from "../../core/request-context.ts";
import type { TenantStore } from "../../tenants/tenant-store.ts";
import { createFailedAuthLimit } from "./failed-auth-limit.ts";

const LAST_USED_FLUSH_MS = 60_000;

export type AuthenticatorDeps = {
  keys: Pick<KeyStore, "lookup" | "markUsed">;
  tenants: Pick<TenantStore, "get">;
  /** Any connection: the authenticator duplicates it for its revocation subscription. */
  redis?: Redis;
  /** Default: createKeySpace().keyRevocations() — must match the KeyStore that revokes. */
  channel?: string;
  positiveTtlMs?: number;
  negativeTtlMs?: number;
  /** Failed authentications per source address and window before lookups are refused. */
  failedAuth?: { limit?: number; windowMs?: number };
  log?: Logger;
};

export type Authenticator = {
  /** `source`: the peer address, for the failed-authentication limit (failed-auth-limit.ts). */
  authenticate(authorizationHeader: string | undefined, source?: string): Promise<Authenticated>;
  /** Resolves once revocations from other replicas are being received. */
  ready: Promise<void>;
  cache: KeyCache;
  /** Flushes last-used times and ends the subscription. */
  close(): Promise<void>;
};

const missingKey = () =>
  new ApiError(
    401,
    "You didn't provide an API key. Provide it in the Authorization header as 'Bearer YOUR_KEY'.",
    { code: "missing_api_key" },
  );
// One message for malformed, unknown, revoked and orphaned keys: the answer must not tell an
// attacker which of these it was.
const invalidKey = () => new ApiError(401, "Incorrect API key provided.", { code: "invalid_api_key" });
const tooManyFailures = () =>
  new ApiError(
    429,
    "Too many failed authentications from this address; wait a few seconds before trying another key.",
    { code: "too_many_failed_authentications", headers: { "retry-after": "10", connection: "close" } },
  );
const unavailable = () =>
  new ApiError(503, "Authentication is temporarily unavailable; retry shortly.", {
    code: "auth_unavailable",
  });

/** The token of an `Authorization: Bearer <token>` header; undefined when absent or not Bearer. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8 || header.charCodeAt(6) !== 32) return undefined;
  // The scheme is case-insensitive (RFC 9110); the common spelling skips the lowercased copy.
  if (!header.startsWith("Bearer") && header.slice(0, 6).toLowerCase() !== "bearer") return undefined;
  const token = header.slice(7).trim();
  return token === "" ? undefined : token;
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const cache = createKeyCache({
    lookup: (key) => deps.keys.lookup(key),
    subscriber: deps.redis?.duplicate(),
    channel: deps.channel ?? createKeySpace().keyRevocations(),
    positiveTtlMs: deps.positiveTtlMs,
    negativeTtlMs: deps.negativeTtlMs,
    log: deps.log,
  });
  const failures = createFailedAuthLimit(deps.failedAuth);
  // last_used_at is written in batches, never on the request path.
  let used = new Set<string>();
  const flush = async () => {
    if (used.size === 0) return;
    const ids = [...used];
    used = new Set();
    await deps.keys
      .markUsed(ids)
      .catch((err: Error) => deps.log?.warn({ err: err.message }, "could not record key last-use"));
  };
  const timer = setInterval(flush, LAST_USED_FLUSH_MS);
  timer.unref();

  return {
    async authenticate(header, source) {
      if (header === undefined || header === "") throw missingKey();
      const token = bearerToken(header);
      // Only the tenant-key shape is ever looked up, so the admin token (which may not take that
      // shape, see loadAdminToken) can never authenticate here.
      if (token === undefined || !looksLikeTenantKey(token)) throw invalidKey();
      if (source !== undefined && failures.exhausted(source) && !cache.cached(token)) throw tooManyFailures();
      let resolved = cache.get(token);
      if (resolved instanceof Promise) {
        try {
          resolved = await resolved;
        } catch (err) {
          deps.log?.error({ err: (err as Error).message }, "API key lookup failed");
          throw unavailable();
        }
      }
      const tenant = resolved === null ? undefined : deps.tenants.get(resolved.tenant);
      if (resolved === null || tenant === undefined) {
        if (source !== undefined) failures.failed(source);
        throw invalidKey();
      }
      used.add(resolved.keyId);
      return { tenant, keyId: resolved.keyId };
    },
    ready: cache.ready,
    cache,
    async close() {
      clearInterval(timer);
      await flush();
      await cache.close();
    },
  };
}
