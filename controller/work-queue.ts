// A rate-limited, de-duplicating work queue in the manner of client-go's: a key is never handed
// to two workers at once, a key added while it is being processed runs once more afterwards,
// and failing keys come back with per-key exponential backoff.
export interface WorkQueue {
  add(key: string): void;
  /** Adds after `ms`; a sooner pending add for the same key wins. */
  addAfter(key: string, ms: number): void;
  /** Adds after this key's next backoff delay (base * 2^failures, capped). */
  addRateLimited(key: string): void;
  /** Clears the key's failure count after a success. */
  forget(key: string): void;
  failures(key: string): number;
  /** Resolves with the next key, or undefined once shut down. */
  get(): Promise<string | undefined>;
  done(key: string): void;
  length(): number;
  shutdown(): void;
}

export function createWorkQueue(opts: { baseDelayMs?: number; maxDelayMs?: number } = {}): WorkQueue {
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 60_000;
  const queue: string[] = [];
  let head = 0;
  const dirty = new Set<string>();
  const processing = new Set<string>();
  const failureCounts = new Map<string, number>();
  const timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  const waiters: ((key: string | undefined) => void)[] = [];
  let closed = false;

  const push = (key: string) => {
    const waiter = waiters.shift();
    if (waiter) {
      processing.add(key);
      dirty.delete(key);
      waiter(key);
    } else queue.push(key);
  };

  const q: WorkQueue = {
    add(key) {
      if (closed || dirty.has(key)) return;
      dirty.add(key);
      if (processing.has(key)) return; // done() re-queues it
      push(key);
    },
    addAfter(key, ms) {
      if (closed) return;
      if (ms <= 0) return q.add(key);
      const at = Date.now() + ms;
      const pending = timers.get(key);
      if (pending && pending.at <= at) return;
      if (pending) clearTimeout(pending.timer);
      const timer = setTimeout(() => {
        timers.delete(key);
        q.add(key);
      }, ms);
      timer.unref();
      timers.set(key, { at, timer });
    },
    addRateLimited(key) {
      const n = failureCounts.get(key) ?? 0;
      failureCounts.set(key, n + 1);
      q.addAfter(key, Math.min(max, base * 2 ** n));
    },
    forget(key) {
      failureCounts.delete(key);
    },
    failures: (key) => failureCounts.get(key) ?? 0,
    get() {
      if (closed) return Promise.resolve(undefined);
      if (head < queue.length) {
        const key = queue[head++]!;
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        processing.add(key);
        dirty.delete(key);
        return Promise.resolve(key);
      }
      return new Promise((resolve) => waiters.push(resolve));
    },
    done(key) {
      processing.delete(key);
      if (dirty.has(key)) push(key);
    },
    length: () => queue.length - head,
    shutdown() {
      closed = true;
      for (const { timer } of timers.values()) clearTimeout(timer);
      timers.clear();
      for (const w of waiters.splice(0)) w(undefined);
    },
  };
  return q;
}
