// In-process cache of resolved API keys, so authentication on the hot path is one Map lookup.
//
// Revocation bound: a revoked key stops working on every router subscribed to the revocation
// channel as soon as the Redis message arrives (pub/sub delivery, milliseconds). A router that
// missed the message (Redis away, subscription not yet up) stops accepting the key within the
// positive TTL (5 s by default), because entries are never served past their expiry; when the
// subscription comes back the whole cache is dropped, since messages may have been lost.
// Unknown keys are remembered for the negative TTL (1 s) so a flood of one bad key costs one
// query a second; a key created just now is usable after at most that long.
import type { Redis } from "ioredis";
import type { Logger } from "../core/log.ts";
import { type ResolvedKey, UNKNOWN_PREFIX } from "./api-keys.ts";

export const DEFAULT_POSITIVE_TTL_MS = 5_000;
const DEFAULT_NEGATIVE_TTL_MS = 1_000;
const DEFAULT_MAX_ENTRIES = 100_000;
const MAX_NEGATIVE_ENTRIES = 10_000;
// Prefixes no key has: a flood of keys under one made-up prefix costs one query per TTL. A key
// created later under such a prefix waits out the TTL (prefixes are 47 random bits: only a key
// someone presented before it existed can be caught).
const DEFAULT_UNKNOWN_PREFIX_TTL_MS = 60_000;
const MAX_UNKNOWN_PREFIXES = 50_000;
/** `lpx-<8-character prefix>-...`: the key shape is checked before the cache is asked. */
const prefixOf = (key: string) => key.slice(4, 12);
// Hot keys are refreshed in the background during the last part of their TTL, so a busy key
// never waits on Postgres; the entry being served is still inside its TTL, keeping the bound.
const REFRESH_AHEAD = 0.8;

type Entry = { value: ResolvedKey; refreshAt: number; expiresAt: number };

export type KeyCacheOptions = {
  lookup(presentedKey: string): Promise<ResolvedKey | null | typeof UNKNOWN_PREFIX>;
  /** A connection for SUBSCRIBE; the cache owns it from here on and quits it on close(). */
  subscriber?: Redis;
  channel: string;
  positiveTtlMs?: number;
  negativeTtlMs?: number;
  unknownPrefixTtlMs?: number;
  maxEntries?: number;
  log?: Logger;
  now?: () => number;
};

export type KeyCache = {
  /** Resolved key, or null when unknown/revoked. A cache hit returns without awaiting anything. */
  get(presentedKey: string): ResolvedKey | null | Promise<ResolvedKey | null>;
  /** Whether get() would answer without a lookup (a hit, positive or negative). */
  cached(presentedKey: string): boolean;
  /** Forgets a key id at once (revocation). */
  invalidateKeyId(keyId: string): void;
  clear(): void;
  /** Resolves when the revocation subscription is active (at once without a subscriber); never rejects. */
  ready: Promise<void>;
  close(): Promise<void>;
};

export function createKeyCache(opts: KeyCacheOptions): KeyCache {
  const positiveTtl = opts.positiveTtlMs ?? DEFAULT_POSITIVE_TTL_MS;
  const negativeTtl = opts.negativeTtlMs ?? DEFAULT_NEGATIVE_TTL_MS;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const now = opts.now ?? (() => performance.now());
  const positive = new Map<string, Entry>();
  const negative = new Map<string, number>(); // key -> expiresAt
  const unknownPrefixes = new Map<string, number>(); // prefix -> expiresAt
  const unknownPrefixTtl = opts.unknownPrefixTtlMs ?? DEFAULT_UNKNOWN_PREFIX_TTL_MS;
  const inflight = new Map<string, Promise<ResolvedKey | null>>();
  // Bumped on every invalidation: a lookup that started before it must not re-insert old data.
  let generation = 0;

  const fetch = (key: string): Promise<ResolvedKey | null> => {
    const running = inflight.get(key);
    if (running) return running;
    const startedIn = generation;
    const p = opts
      .lookup(key)
      .then((found) => {
        const value = found === UNKNOWN_PREFIX ? null : found;
        if (startedIn === generation) {
          store(key, value);
          if (found === UNKNOWN_PREFIX) {
            if (unknownPrefixes.size >= MAX_UNKNOWN_PREFIXES) evictOldest(unknownPrefixes);
            unknownPrefixes.set(prefixOf(key), now() + unknownPrefixTtl);
          }
        }
        return value;
      })
      .finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  };

  const store = (key: string, value: ResolvedKey | null) => {
    const t = now();
    if (value) {
      negative.delete(key);
      positive.delete(key); // re-insert at the end: Map order doubles as age for eviction
      if (positive.size >= maxEntries) evictOldest(positive);
      positive.set(key, { value, refreshAt: t + positiveTtl * REFRESH_AHEAD, expiresAt: t + positiveTtl });
    } else {
      positive.delete(key);
      if (negative.size >= MAX_NEGATIVE_ENTRIES) evictOldest(negative);
      negative.set(key, t + negativeTtl);
    }
  };

  const invalidateKeyId = (keyId: string) => {
    generation++;
    for (const [key, entry] of positive) if (entry.value.keyId === keyId) positive.delete(key);
  };
  const clear = () => {
    generation++;
    positive.clear();
    negative.clear();
    unknownPrefixes.clear();
  };

  const sub = opts.subscriber;
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  if (sub) {
    let subscribed = false;
    let subscribing = false;
    // Never rejects: while Redis is away the TTL is the bound, and the next 'ready' retries.
    const subscribe = () => {
      subscribing = true;
      sub.subscribe(opts.channel).then(
        () => {
          subscribed = true;
          subscribing = false;
          markReady();
        },
        (err: Error) => {
          subscribing = false;
          opts.log?.warn({ err: err.message }, "revocation subscription failed; retrying on reconnect");
        },
      );
    };
    sub.on("message", (channel: string, message: string) => {
      if (channel === opts.channel) invalidateKeyId(message);
    });
    // ioredis re-subscribes by itself after a reconnect; whatever was published meanwhile is lost.
    sub.on("ready", () => {
      if (subscribed) {
        clear();
        opts.log?.info("revocation subscription restored; key cache cleared");
      } else if (!subscribing) {
        subscribe();
      }
    });
    sub.on("error", (err: Error) => opts.log?.warn({ err: err.message }, "revocation subscription error"));
    subscribe();
  } else {
    markReady();
  }

  return {
    get(key) {
      const entry = positive.get(key);
      if (entry !== undefined) {
        const t = now();
        if (t < entry.expiresAt) {
          if (t >= entry.refreshAt && !inflight.has(key)) {
            fetch(key).catch((err: Error) => opts.log?.warn({ err: err.message }, "key refresh failed"));
          }
          return entry.value;
        }
        positive.delete(key);
      } else {
        const until = negative.get(key);
        if (until !== undefined) {
          if (now() < until) return null;
          negative.delete(key);
        }
        const prefixUntil = unknownPrefixes.get(prefixOf(key));
        if (prefixUntil !== undefined) {
          if (now() < prefixUntil) return null;
          unknownPrefixes.delete(prefixOf(key));
        }
      }
      return fetch(key);
    },
    cached(key) {
      const t = now();
      const entry = positive.get(key);
      if (entry !== undefined) return t < entry.expiresAt;
      const until = negative.get(key) ?? unknownPrefixes.get(prefixOf(key));
      return until !== undefined && t < until;
    },
    invalidateKeyId,
    clear,
    ready,
    async close() {
      if (sub) await sub.quit().catch(() => sub.disconnect());
    },
  };
}

function evictOldest(map: Map<string, unknown>): void {
  const oldest = map.keys().next();
  if (!oldest.done) map.delete(oldest.value);
}
