// The durable usage spool: every request's usage event (and its audit row) is appended to a Redis
// stream with XADD, fire-and-forget, so the request path never waits on Postgres. The writer
// (usage-writer.ts) drains the stream into Postgres and deletes entries only after commit.
// If Redis itself is away, entries wait in a bounded in-memory buffer and are retried — into the
// stream when Redis returns, or straight into Postgres through `fallback` meanwhile.
import type { Redis } from "ioredis";
import type { Logger } from "../core/log.ts";
import { sleep } from "../core/sleep.ts";
import { redisUsable } from "./admission.ts";
import type { AuditContent } from "./audit-record.ts";
import type { MeteringMetrics } from "./metrics.ts";
import type { UsageEvent } from "./usage-events.ts";

/** One request's usage event with its audit content (null: no audit row). */
export type SpoolEntry = UsageEvent & { audit: AuditContent | null };

/**
 * An entry as the writer takes it from the stream: the JSON as appended (Postgres parses it, the
 * writer never does) and the month of its event, which picks the partition.
 */
export type SpooledRow = { json: string; month: string };

const toRow = (e: SpoolEntry): SpooledRow => ({ json: JSON.stringify(e), month: e.ts.slice(0, 7) });

export type Spool = {
  append(entry: SpoolEntry): void;
  /**
   * Resolves once every entry appended so far is in the stream or in Postgres, retrying while
   * neither takes them for up to `flushTimeoutMs` (then they stay buffered for later retries).
   */
  flush(): Promise<void>;
  buffered(): number;
  close(): Promise<void>;
};

export type SpoolDeps = {
  redis: Redis;
  stream: string;
  log: Logger;
  metrics?: MeteringMetrics;
  /** Direct Postgres insert, used while Redis is unreachable. */
  fallback?: (rows: SpooledRow[]) => Promise<void>;
  maxBuffered?: number;
  retryMs?: number;
  /** How long flush() (and so a stopping router) keeps retrying buffered entries (default 5 s). */
  flushTimeoutMs?: number;
};

/** A field of a stream entry ([name, value, name, value, ...]); names sit at even positions. */
export function fieldOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Stream fields of an entry: t (tenant, for erasure), m (month), e (the JSON). */
export const entryFields = (e: SpoolEntry): string[] => [
  "t",
  e.tenant,
  "m",
  e.ts.slice(0, 7),
  "e",
  JSON.stringify(e),
];

export function createSpool(deps: SpoolDeps): Spool {
  const { redis, stream, log } = deps;
  const maxBuffered = deps.maxBuffered ?? 100_000;
  const retryMs = deps.retryMs ?? 1_000;
  const flushTimeoutMs = deps.flushTimeoutMs ?? 5_000;
  let buffer: SpoolEntry[] = [];
  const pending = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined;
  let draining: Promise<void> | undefined;

  const keep = (entries: SpoolEntry[]) => {
    const room = maxBuffered - buffer.length;
    if (entries.length > room) {
      const lost = entries.length - Math.max(0, room);
      deps.metrics?.spoolDropped(lost);
      log.error({ lost }, "usage spool buffer full while Redis and Postgres are unreachable; events dropped");
      entries = entries.slice(0, Math.max(0, room));
    }
    buffer.push(...entries);
    deps.metrics?.spoolFallback(buffer.length);
    schedule();
  };

  const schedule = () => {
    if (timer || buffer.length === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void drain();
    }, retryMs);
    timer.unref();
  };

  const track = <T>(p: Promise<T>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
    return p;
  };

  async function xaddAll(entries: SpoolEntry[]): Promise<void> {
    const pipe = redis.pipeline();
    for (const e of entries) pipe.xadd(stream, "*", ...entryFields(e));
    const res = await pipe.exec();
    const failed = (res ?? []).some(([err]) => err);
    if (!res || failed) throw new Error("XADD failed");
  }

  function drain(): Promise<void> {
    if (draining) return draining;
    draining = (async () => {
      while (buffer.length > 0) {
        const batch = buffer.slice(0, 1000);
        try {
          if (redisUsable(redis)) await xaddAll(batch);
          else if (deps.fallback) await deps.fallback(batch.map(toRow));
          else throw new Error(`redis is ${redis.status}`);
        } catch (e) {
          // XADD may have landed partly; the writer's insert is idempotent by event id.
          log.warn({ err: (e as Error).message, buffered: buffer.length }, "usage spool retry failed");
          schedule();
          return;
        }
        buffer = buffer.slice(batch.length);
        deps.metrics?.spoolFallback(buffer.length);
      }
    })().finally(() => {
      draining = undefined;
    });
    return draining;
  }

  return {
    append(entry) {
      if (!redisUsable(redis)) {
        keep([entry]);
        return;
      }
      track(
        redis.xadd(stream, "*", ...entryFields(entry)).catch((e: Error) => {
          log.warn({ err: e.message }, "XADD to usage spool failed; buffering in memory");
          keep([entry]);
        }),
      );
    },
    async flush() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
      // A drain that finds Redis reconnecting (or Postgres away) leaves the rest for its retry
      // timer; a caller waiting for the entries (a stopping router) keeps trying instead, bounded.
      const deadline = Date.now() + flushTimeoutMs;
      while (buffer.length > 0) {
        await drain();
        if (buffer.length === 0 || Date.now() >= deadline) break;
        await sleep(Math.min(retryMs, Math.max(0, deadline - Date.now())));
      }
    },
    buffered: () => buffer.length,
    async close() {
      await this.flush();
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (buffer.length > 0) {
        deps.metrics?.spoolDropped(buffer.length);
        log.error(
          { lost: buffer.length },
          "stopping with usage events that neither Redis nor Postgres took; they are lost",
        );
      }
    },
  };
}
