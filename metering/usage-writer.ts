// Drains the usage spool (a Redis stream) into Postgres in batches. Every router runs one; a
// consumer group shares the stream between them. An entry is XACKed and XDELeted only after the
// batch holding it committed, so a Postgres outage leaves everything in the stream (pending for
// this consumer) to be retried with backoff; entries a crashed router had claimed are taken over
// after `claimIdleMs`. The insert is idempotent by event id, so redelivery never double counts.

import { hostname } from "node:os";
import type { Redis } from "ioredis";
import type { Logger } from "../core/log.ts";
import { isStorable, originalHash, type Repairs, repairText } from "../core/safe-text.ts";
import { sleep } from "../core/sleep.ts";
import type { MeteringMetrics } from "./metrics.ts";
import { fieldOf, type SpooledRow } from "./spool.ts";
import type { UsageStore } from "./usage-store.ts";

export type UsageWriterDeps = {
  redis: Redis;
  stream: string;
  store: UsageStore;
  log: Logger;
  metrics?: MeteringMetrics;
  group?: string;
  consumer?: string;
  batchSize?: number;
  blockMs?: number;
  claimIdleMs?: number;
  maxBackoffMs?: number;
};

export type UsageWriter = {
  start(): void;
  /** Stops after the batch in flight; entries not yet written stay in the stream. */
  stop(): Promise<void>;
  /** Writes whatever the stream holds now; for tests, benchmarks and shutdown. */
  drain(): Promise<number>;
};

type RawEntry = [id: string, fields: string[] | null];

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint): the rows, not the server. */
const isDataError = (e: unknown) => /^2[23]/.test(String((e as { code?: unknown }).code ?? ""));

export function createUsageWriter(deps: UsageWriterDeps): UsageWriter {
  const { stream, store, log } = deps;
  const group = deps.group ?? "usage-writers";
  const consumer = deps.consumer ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const batchSize = deps.batchSize ?? 5_000;
  const blockMs = deps.blockMs ?? 1_000;
  const claimIdleMs = deps.claimIdleMs ?? 60_000;
  const maxBackoffMs = deps.maxBackoffMs ?? 5_000;
  const dead = `${stream}:dead`;
  // XREADGROUP BLOCK holds its connection, so the writer has its own.
  const redis = deps.redis.duplicate();
  redis.on("error", () => {}); // reconnects on its own; failures surface through commands
  let running = false;
  let loop: Promise<void> | undefined;
  let groupReady = false;
  let ownPending = true; // entries delivered to us but not acked: read them first, from id 0
  let lastClaim = 0;

  async function ensureGroup(): Promise<void> {
    if (groupReady) return;
    try {
      await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM");
    } catch (e) {
      if (!String((e as Error).message).includes("BUSYGROUP")) throw e;
    }
    groupReady = true;
  }

  async function read(block: boolean): Promise<RawEntry[]> {
    if (Date.now() - lastClaim > claimIdleMs / 2) {
      lastClaim = Date.now();
      const claimed = (await redis.xautoclaim(
        stream,
        group,
        consumer,
        claimIdleMs,
        "0-0",
        "COUNT",
        batchSize,
      )) as [string, RawEntry[]];
      if (claimed[1].length > 0) return claimed[1];
    }
    const xread = async (from: string, blockFor?: number) => {
      const args: (string | number)[] = ["GROUP", group, consumer, "COUNT", batchSize];
      if (blockFor) args.push("BLOCK", blockFor);
      const res = (await (redis.xreadgroup as (...a: (string | number)[]) => Promise<unknown>)(
        ...args,
        "STREAMS",
        stream,
        from,
      )) as [string, RawEntry[]][] | null;
      return res?.[0]?.[1] ?? [];
    };
    if (ownPending) {
      const mine = await xread("0");
      if (mine.length > 0) return mine;
      ownPending = false;
    }
    return xread(">", block ? blockMs : undefined);
  }

  // A batch refused for its data (not for a connection or server problem) would block the spool
  // forever: it is retried entry by entry; an entry Postgres refuses is repaired (every string
  // made storable, the originals' hashes kept) and written again, and only one refused even
  // then goes to the dead-letter stream, which raises loraplex_usage_dead_letter_depth.
  async function writeOrSplit(entries: SpooledRow[]): Promise<number> {
    try {
      return await store.write(entries);
    } catch (e) {
      if (!isDataError(e) || entries.length === 0) throw e;
    }
    let inserted = 0;
    for (const entry of entries) {
      try {
        inserted += await store.write([entry]);
        continue;
      } catch (e) {
        if (!isDataError(e)) throw e;
      }
      const repaired = repairEntry(entry);
      try {
        if (!repaired) throw new Error("the entry is not a JSON object");
        inserted += await store.write([repaired]);
        log.warn("usage event refused by Postgres as sent; stored repaired");
      } catch (e) {
        if (repaired && !isDataError(e)) throw e;
        await redis.xadd(`${dead}`, "*", "e", entry.json, "err", String((e as Error).message));
        deps.metrics?.deadLettered();
        log.error(
          { err: (e as Error).message },
          "usage event refused by Postgres; moved to the dead-letter stream",
        );
      }
    }
    return inserted;
  }

  /** Returns how many entries were consumed (written, duplicates or unreadable). */
  async function once(block: boolean): Promise<number> {
    await ensureGroup();
    const raw = await read(block);
    if (raw.length === 0) return 0;
    const entries: SpooledRow[] = [];
    for (const [, fields] of raw) {
      // null fields: deleted after delivery (tenant erasure); nothing to write, just ack.
      if (!fields) continue;
      const json = fieldOf(fields, "e");
      if (json !== undefined) entries.push({ json, month: fieldOf(fields, "m") ?? "" });
    }
    const started = performance.now();
    const inserted = await writeOrSplit(entries);
    deps.metrics?.batchWritten(inserted, (performance.now() - started) / 1000);
    const ids = raw.map(([id]) => id);
    await redis
      .multi()
      .xack(stream, group, ...ids)
      .xdel(stream, ...ids)
      .exec();
    return raw.length;
  }

  // The dead-letter stream should stay empty: any entry is a request not billed and not audited.
  let deadSeen = 0;
  async function checkDeadLetters(): Promise<void> {
    if (!deps.metrics) return;
    deps.metrics.spoolDepth(await redis.xlen(stream));
    const n = await redis.xlen(dead);
    deps.metrics.deadLetterDepth(n);
    if (n > deadSeen) {
      log.error(
        { alert: "usage_dead_letter", entries: n, stream: dead },
        "usage events are in the dead-letter stream: requests are missing from billing and audit",
      );
    }
    deadSeen = n;
  }

  async function run(): Promise<void> {
    let backoff = 100;
    while (running) {
      try {
        await once(true);
        backoff = 100;
        await checkDeadLetters();
      } catch (e) {
        deps.metrics?.batchFailed();
        log.warn(
          { err: (e as Error).message, retryInMs: backoff },
          "usage batch not written; it stays in the spool",
        );
        ownPending = true;
        groupReady = false;
        await sleep(backoff);
        backoff = Math.min(maxBackoffMs, backoff * 2);
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      await loop;
      redis.disconnect();
    },
    async drain() {
      let total = 0;
      ownPending = true;
      for (;;) {
        const n = await once(false);
        if (n === 0) return total;
        total += n;
      }
    },
  };
}

/**
 * The entry with every string made storable (NUL and lone surrogates → U+FFFD) and the hashes of
 * the originals added to `repaired`; undefined when it is not a JSON object at all.
 */
function repairEntry(entry: SpooledRow): SpooledRow | undefined {
  let event: unknown;
  try {
    event = JSON.parse(entry.json);
  } catch {
    return undefined;
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) return undefined;
  const repairs: Repairs = {};
  const fixed = repairValue(event, "", repairs) as Record<string, unknown>;
  const known = typeof fixed.repaired === "object" && fixed.repaired !== null ? fixed.repaired : {};
  fixed.repaired = { ...known, ...repairs };
  return { json: JSON.stringify(fixed), month: entry.month };
}

function repairValue(v: unknown, path: string, repairs: Repairs): unknown {
  if (typeof v === "string") {
    if (isStorable(v)) return v;
    repairs[path] = originalHash(v);
    return repairText(v);
  }
  if (Array.isArray(v)) return v.map((x, i) => repairValue(x, `${path}[${i}]`, repairs));
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[repairText(k)] = repairValue(x, path ? `${path}.${k}` : k, repairs);
    }
    return out;
  }
  return v;
}
