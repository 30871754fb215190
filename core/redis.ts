import { Redis } from "ioredis";
import type { ServiceConfig } from "./config.ts";

export function createRedis(cfg: ServiceConfig, opts: { lazyConnect?: boolean } = {}): Redis {
  return new Redis(cfg.REDIS_URL, {
    lazyConnect: opts.lazyConnect ?? false,
    // Fail a command quickly when Redis is away instead of queueing it forever;
    // callers decide whether to fail open or closed.
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
  });
}

/** Deletes every key matching a SCAN pattern (never KEYS: it would block the server); returns how many. */
export async function deleteKeysMatching(redis: Redis, pattern: string): Promise<number> {
  let removed = 0;
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1_000);
    if (found.length > 0) removed += await redis.del(...found);
    cursor = next;
  } while (cursor !== "0");
  return removed;
}

/** BullMQ's connection options from a redis:// URL (BullMQ brings its own client). */
export function bullConnection(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === "rediss:" ? {} : undefined,
    // BullMQ's blocking commands must wait as long as they need.
    maxRetriesPerRequest: null,
  };
}
