// Several routers in front of one pool each run their own queues but should agree on the fair
// order, so the virtual counters live in Redis: one hash per pool, field = fairness key. Each
// router pushes the charges and lifts it made since its last push and reads every counter back,
// in one script call per pool per interval (never per request). Between pushes a router's view
// of a counter lags the truth by at most the service the other routers charged to that key in
// one interval plus one round trip.
import type { Redis } from "ioredis";
import type { Logger } from "../../core/log.ts";
import type { Vtc } from "./vtc.ts";

export const DEFAULT_SYNC_MS = 250;
/** A pool idle this long forgets its counters (everyone restarts level). */
const TTL_MS = 3_600_000;

// ARGV: ttl, then (field, delta, floor) triples. The floor (a lift) applies to the shared value
// before this router's charges are added, so two routers lifting the same key do not add up.
const SYNC = `
local h = KEYS[1]
for i = 2, #ARGV, 3 do
  local cur = tonumber(redis.call('HGET', h, ARGV[i]) or '0')
  local floor = tonumber(ARGV[i + 2])
  if floor > cur then cur = floor end
  cur = cur + tonumber(ARGV[i + 1])
  redis.call('HSET', h, ARGV[i], string.format('%.17g', cur))
end
redis.call('PEXPIRE', h, ARGV[1])
return redis.call('HGETALL', h)`;

type SyncRedis = Redis & {
  loraplexFairSync(key: string, ...args: (string | number)[]): Promise<string[]>;
};

export type SharedPool = { ref: string; vtc: Vtc<unknown> };

export type CounterSync = {
  /** Pushes and pulls every pool with something to share now (tests, shutdown). */
  flush(): Promise<void>;
  stop(): Promise<void>;
};

export function startCounterSync(opts: {
  redis: Redis;
  /** The Redis hash of a pool's counters (core/redis-keys.ts fairCounters). */
  key(poolRef: string): string;
  intervalMs?: number;
  pools: () => Iterable<SharedPool>;
  logger: Logger;
}): CounterSync {
  const redis = opts.redis as SyncRedis;
  if (typeof redis.loraplexFairSync !== "function")
    redis.defineCommand("loraplexFairSync", { numberOfKeys: 1, lua: SYNC });
  let running: Promise<void> | undefined;
  let failing = false;

  async function syncPool(p: SharedPool): Promise<void> {
    const args: (string | number)[] = [TTL_MS];
    const sent: { key: string; pending: number; floor: number }[] = [];
    for (const c of p.vtc.clients()) {
      if (c.pending === 0 && c.floor === 0) continue;
      args.push(c.key, c.pending, c.floor);
      sent.push({ key: c.key, pending: c.pending, floor: c.floor });
      c.pending = 0;
      c.floor = 0;
    }
    // Nothing to push and nobody waiting here: other routers' charges can wait to be read.
    if (sent.length === 0 && p.vtc.queued === 0) return;
    let reply: string[];
    try {
      reply = await redis.loraplexFairSync(opts.key(p.ref), ...args);
    } catch (err) {
      // Keep the charges for the next push; the local order stays fair meanwhile.
      for (const s of sent) {
        const c = p.vtc.find(s.key);
        if (!c) continue;
        c.pending += s.pending;
        c.floor = Math.max(c.floor, s.floor);
      }
      if (!failing)
        opts.logger.warn({ err: (err as Error).message }, "fair-share counters: Redis unreachable");
      failing = true;
      return;
    }
    failing = false;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const c = p.vtc.find(reply[i]!);
      if (c) p.vtc.rebase(c, Number(reply[i + 1]));
    }
  }

  const flush = (): Promise<void> => {
    running ??= (async () => {
      try {
        for (const p of opts.pools()) await syncPool(p);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void flush(), opts.intervalMs ?? DEFAULT_SYNC_MS);
  timer.unref();
  return {
    flush,
    async stop() {
      clearInterval(timer);
      await running;
      await flush();
    },
  };
}
