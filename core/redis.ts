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
