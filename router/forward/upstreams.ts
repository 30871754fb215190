// One keep-alive undici Pool per engine replica, created on first use and closed when the
// replica leaves discovery, so the hot path never opens a connection it could have reused.
import { Pool } from "undici";

export type UpstreamOptions = {
  /** Headers timeout and idle-body timeout for engine requests (504 when exceeded). */
  timeoutMs: number;
  /** Connections per replica; requests beyond that queue inside undici. */
  connections?: number;
  /** Sent as `Authorization: Bearer` when the engines run with vLLM's --api-key. */
  engineApiKey?: string;
  /** Current replica ids; pools for other ids are closed by prune(). */
  activeIds?: () => Iterable<string>;
  pruneIntervalMs?: number;
};

export type Upstreams = {
  pool(engineUrl: string): Pool;
  readonly timeoutMs: number;
  readonly authorization: string | undefined;
  prune(): void;
  close(): Promise<void>;
};

export function createUpstreams(opts: UpstreamOptions): Upstreams {
  const pools = new Map<string, Pool>();
  const make = (url: string) =>
    new Pool(url, {
      connections: opts.connections ?? 256,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connectTimeout: Math.min(opts.timeoutMs, 5_000),
    });
  const prune = () => {
    if (!opts.activeIds) return;
    const keep = new Set(opts.activeIds());
    for (const [url, pool] of pools) {
      if (keep.has(url)) continue;
      pools.delete(url);
      void pool.close().catch(() => {});
    }
  };
  const timer = opts.activeIds ? setInterval(prune, opts.pruneIntervalMs ?? 30_000) : undefined;
  timer?.unref();
  return {
    pool(url) {
      let p = pools.get(url);
      if (!p) {
        p = make(url);
        pools.set(url, p);
      }
      return p;
    },
    timeoutMs: opts.timeoutMs,
    authorization: opts.engineApiKey ? `Bearer ${opts.engineApiKey}` : undefined,
    prune,
    async close() {
      if (timer) clearInterval(timer);
      const all = [...pools.values()];
      pools.clear();
      // In-flight streams were given their grace period by the server's shutdown already.
      await Promise.all(all.map((p) => p.destroy().catch(() => {})));
    },
  };
}
