// The one way to wait. It resolves after `ms`, or as soon as `signal` aborts, and never rejects:
// loops that wait between attempts check their signal themselves, so shutting down never has to
// sit out a backoff or a poll interval. `unref` lets the process exit while the wait is pending
// (a background retry must not hold a finished process open).
import { setTimeout as wait } from "node:timers/promises";

export async function sleep(ms: number, signal?: AbortSignal, opts: { unref?: boolean } = {}): Promise<void> {
  // No timer at all for 0 (the engine simulator's latency model runs with time scale 0 in tests).
  if (ms <= 0 || signal?.aborted) return;
  try {
    await wait(ms, undefined, { signal, ref: !opts.unref });
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
}
