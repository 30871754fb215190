// Tenant API keys in Postgres. A key looks like `lpx-<prefix>-<secret>`: the 8-character base62
// prefix is a public lookup id (unique index), the 43-character base64url secret carries 256
// random bits. Only HMAC-SHA256(full key) is stored; the plain key is returned once, at creation.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Redis } from "ioredis";
import type pg from "pg";
import { createKeySpace } from "../core/redis-keys.ts";
import { TenantName } from "../core/tenant.ts";
import { deriveKey } from "./secrets.ts";

const KEY_FORMAT = /^lpx-([0-9A-Za-z]{8})-([A-Za-z0-9_-]{43})$/;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const MAX_NAME = 200;

export type KeyInfo = {
  id: string;
  tenant: string;
  name: string | null;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
};
export type CreatedKey = { id: string; key: string; tenant: string; name: string | null; created_at: string };
export type ResolvedKey = { keyId: string; tenant: string };
/** lookup()'s answer when no key at all has the presented prefix (not merely a wrong secret). */
export const UNKNOWN_PREFIX = "unknown_prefix";
export type RevokedKey = { id: string; tenant: string; revoked_at: string; announced: boolean };

export type KeyStore = {
  createKey(tenant: string, name?: string | null): Promise<CreatedKey>;
  listKeys(tenant?: string): Promise<KeyInfo[]>;
  /**
   * Revokes and announces it to every router; null when no key has this id. Idempotent.
   * `announced` is false when Redis could not be told: routers then drop the key within the
   * key cache's positive TTL instead of at once.
   */
  revokeKey(id: string): Promise<RevokedKey | null>;
  /**
   * Resolves a presented key to its owner; null when malformed, wrong or revoked, UNKNOWN_PREFIX
   * when no key has its prefix (the key cache then refuses the whole prefix for a while).
   */
  lookup(presentedKey: string): Promise<ResolvedKey | null | typeof UNKNOWN_PREFIX>;
  /** Records use off the hot path (the authenticator batches ids). */
  markUsed(ids: readonly string[]): Promise<void>;
};

export type KeyStoreDeps = {
  pool: pg.Pool;
  /** The server secret; only creating and checking keys need it (listing and revoking do not). */
  secret?: Buffer | string;
  /** Used to publish revocations; without it other routers notice within the cache TTL. */
  redis?: Redis;
  /** Where revocations are published: KeySpace.keyRevocations() of the deployment's schema. */
  channel?: string;
};

function parseKey(presented: string): { prefix: string } | null {
  const m = KEY_FORMAT.exec(presented);
  return m ? { prefix: m[1]! } : null;
}

export function looksLikeTenantKey(token: string): boolean {
  return KEY_FORMAT.test(token);
}

function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      // 248 = 4 * 62: rejecting the top values keeps every character equally likely.
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return out;
}

const PUBLISH_TIMEOUT_MS = 2_000;

async function publishWithin(redis: Redis, channel: string, message: string, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([redis.publish(channel, message).then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function createKeyStore(deps: KeyStoreDeps): KeyStore {
  const { pool, redis } = deps;
  const hmacKey = deps.secret === undefined ? undefined : deriveKey(deps.secret, "api-keys");
  const channel = deps.channel ?? createKeySpace().keyRevocations();
  const digest = (key: string) => {
    if (hmacKey === undefined) throw new Error("this key store was created without the server secret");
    return createHmac("sha256", hmacKey).update(key).digest();
  };

  return {
    async createKey(tenant, name) {
      if (!TenantName.safeParse(tenant).success) throw new Error(`invalid tenant name '${tenant}'`);
      if (name != null && (typeof name !== "string" || name.length > MAX_NAME)) {
        throw new Error(`key name must be a string of at most ${MAX_NAME} characters`);
      }
      for (let attempt = 0; ; attempt++) {
        const prefix = randomBase62(8);
        const key = `lpx-${prefix}-${randomBytes(32).toString("base64url")}`;
        const id = `key_${randomBase62(16)}`;
        try {
          const { rows } = await pool.query<{ created_at: Date }>(
            "INSERT INTO api_keys (id, tenant, name, prefix, hash) VALUES ($1, $2, $3, $4, $5) RETURNING created_at",
            [id, tenant, name ?? null, prefix, digest(key)],
          );
          return { id, key, tenant, name: name ?? null, created_at: rows[0]!.created_at.toISOString() };
        } catch (err) {
          // A prefix collision (1 in 2^47 per pair) just draws again.
          if ((err as { code?: string }).code !== "23505" || attempt >= 3) throw err;
        }
      }
    },

    async listKeys(tenant) {
      const { rows } = await pool.query<{
        id: string;
        tenant: string;
        name: string | null;
        prefix: string;
        created_at: Date;
        revoked_at: Date | null;
        last_used_at: Date | null;
      }>(
        `SELECT id, tenant, name, prefix, created_at, revoked_at, last_used_at FROM api_keys
         WHERE $1::text IS NULL OR tenant = $1 ORDER BY created_at, id`,
        [tenant ?? null],
      );
      return rows.map((r) => ({
        id: r.id,
        tenant: r.tenant,
        name: r.name,
        prefix: r.prefix,
        created_at: r.created_at.toISOString(),
        revoked_at: iso(r.revoked_at),
        last_used_at: iso(r.last_used_at),
      }));
    },

    async revokeKey(id) {
      const { rows } = await pool.query<{ id: string; tenant: string; revoked_at: Date }>(
        `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
         RETURNING id, tenant, revoked_at`,
        [id],
      );
      const row = rows[0];
      if (!row) return null;
      // Announced even when it was revoked before: a repeat is harmless and heals a lost message.
      const announced = redis ? await publishWithin(redis, channel, row.id, PUBLISH_TIMEOUT_MS) : false;
      return { id: row.id, tenant: row.tenant, revoked_at: row.revoked_at.toISOString(), announced };
    },

    async lookup(presentedKey) {
      const parsed = parseKey(presentedKey);
      if (!parsed) return null;
      const want = digest(presentedKey);
      const { rows } = await pool.query<{ id: string; tenant: string; hash: Buffer; revoked: boolean }>({
        name: "loraplex_api_key_lookup",
        text: "SELECT id, tenant, hash, revoked_at IS NOT NULL AS revoked FROM api_keys WHERE prefix = $1",
        values: [parsed.prefix],
      });
      const row = rows[0];
      if (!row) return UNKNOWN_PREFIX;
      if (row.hash.length !== want.length || !timingSafeEqual(row.hash, want) || row.revoked) {
        return null;
      }
      return { keyId: row.id, tenant: row.tenant };
    },

    async markUsed(ids) {
      if (ids.length === 0) return;
      await pool.query("UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::text[])", [ids]);
    },
  };
}
