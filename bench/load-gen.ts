// Load generation for the router benchmarks: open-loop at a fixed offered rate (requests are
// sent on schedule whether or not earlier ones have finished, so a slow target cannot slow the
// load down and hide its own latency) and closed-loop at fixed concurrency (for max throughput).
import { performance } from "node:perf_hooks";
import { Pool } from "undici";

export type Target = {
  name: string;
  /** One pool per origin; requests go round-robin across them (two routers behind one name). */
  pools: Pool[];
  next: number;
  path: string;
  headers: Record<string, string>;
  body: string;
};

export type Sample = { ms: number; ok: boolean; overheadMs?: number };

export function makeTarget(
  name: string,
  origin: string | string[],
  path: string,
  headers: Record<string, string>,
  body: object,
): Target {
  const text = JSON.stringify(body);
  return {
    name,
    pools: (Array.isArray(origin) ? origin : [origin]).map(
      (o) => new Pool(o, { connections: 512, pipelining: 1, keepAliveTimeout: 60_000 }),
    ),
    next: 0,
    path,
    headers: {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text)),
      ...headers,
    },
    body: text,
  };
}

/** One request, read to the end (a whole stream for SSE); latency from dispatch to last byte. */
export async function once(t: Target): Promise<Sample> {
  const start = performance.now();
  try {
    const pool = t.pools[t.next++ % t.pools.length]!;
    const r = await pool.request({ method: "POST", path: t.path, headers: t.headers, body: t.body });
    const text = await r.body.text();
    const ok = r.statusCode === 200 && !text.includes('"error"');
    const oh = r.headers["x-loraplex-overhead-ms"];
    return { ms: performance.now() - start, ok, overheadMs: typeof oh === "string" ? Number(oh) : undefined };
  } catch {
    return { ms: performance.now() - start, ok: false };
  }
}

/** Sends `rate` requests per second for `seconds`, on schedule; resolves when all have finished. */
export async function openLoop(
  t: Target,
  rate: number,
  seconds: number,
): Promise<{ samples: Sample[]; wallS: number }> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const started = performance.now();
  const pending: Promise<Sample>[] = [];
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - started) / interval) + 1);
      while (sent < due) {
        pending.push(once(t));
        sent++;
      }
      if (sent >= total) done();
      else setTimeout(tick, Math.max(0, interval * sent - (performance.now() - started)));
    };
    tick();
  });
  const samples = await Promise.all(pending);
  return { samples, wallS: (performance.now() - started) / 1000 };
}

/** Keeps `concurrency` requests in flight for `seconds`; returns completed requests per second. */
export async function closedLoop(
  t: Target,
  concurrency: number,
  seconds: number,
): Promise<{ rps: number; errors: number }> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const worker = async () => {
    while (performance.now() < until) {
      const s = await once(t);
      if (s.ok) done++;
      else errors++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { rps: done / ((performance.now() - started) / 1000), errors };
}

export async function closeTarget(t: Target): Promise<void> {
  await Promise.all(t.pools.map((p) => p.close()));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function summarize(samples: Sample[]): {
  ok: number;
  err: number;
  p50: number;
  p99: number;
  ohP50: number;
  ohP99: number;
} {
  const ok = samples.filter((s) => s.ok);
  const ms = ok.map((s) => s.ms).sort((a, b) => a - b);
  const oh = ok.flatMap((s) => (s.overheadMs === undefined ? [] : [s.overheadMs])).sort((a, b) => a - b);
  return {
    ok: ok.length,
    err: samples.length - ok.length,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    ohP50: percentile(oh, 50),
    ohP99: percentile(oh, 99),
  };
}
