// A bound on failed authentications per source address: past `limit` failures in a window, a
// key that would need a database lookup is refused (429) without one. Keys already in the key
// cache are still served, so a valid tenant behind the same address (a NAT, a proxy) keeps
// working while a flood of made-up keys stops reaching PostgreSQL. Memory is bounded too.
export type FailedAuthLimit = {
  /** True when this source has used up its failures for the current window. */
  exhausted(source: string): boolean;
  failed(source: string): void;
};

const DEFAULT_FAILED_AUTH_LIMIT = 50;
const DEFAULT_FAILED_AUTH_WINDOW_MS = 10_000;
const MAX_SOURCES = 10_000;

export function createFailedAuthLimit(
  opts: { limit?: number; windowMs?: number; now?: () => number } = {},
): FailedAuthLimit {
  const limit = opts.limit ?? DEFAULT_FAILED_AUTH_LIMIT;
  const windowMs = opts.windowMs ?? DEFAULT_FAILED_AUTH_WINDOW_MS;
  const now = opts.now ?? (() => performance.now());
  const counts = new Map<string, { since: number; n: number }>();
  const current = (source: string) => {
    const c = counts.get(source);
    if (c && now() - c.since < windowMs) return c;
    if (c) counts.delete(source);
    return undefined;
  };
  return {
    exhausted: (source) => (current(source)?.n ?? 0) >= limit,
    failed(source) {
      const c = current(source);
      if (c) {
        c.n++;
        return;
      }
      if (counts.size >= MAX_SOURCES) counts.delete(counts.keys().next().value!);
      counts.set(source, { since: now(), n: 1 });
    },
  };
}
