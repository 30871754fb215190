// The Virtual Token Counter (Sheng et al., "Fairness in Serving Large Language Models", OSDI
// 2024), as a pure data structure: no clock, no timers, no I/O, so its order is a function of
// the calls alone and unit tests replay recorded traces against it.
//
//   - Every fairness key (a tenant, or a tenant's end user) has a counter: the weighted tokens
//     it has been served, divided by its weight. Input tokens are charged at dispatch, output
//     tokens as they stream.
//   - Dispatch serves the backlogged key (one with queued requests) whose counter is smallest.
//   - A key that becomes backlogged has its counter lifted to the smallest counter among the
//     keys already backlogged (or, when none is, to the counter of the key that left last), so
//     no one banks credit while idle or while the pool was not saturated.
// The paper proves that the service gap between two continuously backlogged keys stays within
// a bound set by the largest request, and the scheduler never idles while a key is backlogged.

export type VtcOptions = {
  /** Service units per prompt token. */
  inputWeight: number;
  /** Service units per generated token (decode costs more than prefill per token; the paper uses 2). */
  outputWeight: number;
};

export const DEFAULT_VTC: VtcOptions = { inputWeight: 1, outputWeight: 2 };

export class VtcClient<T> {
  readonly key: string;
  /** Share relative to other keys; set from the Tenant on every request, so edits apply at once. */
  weight = 1;
  /** Weighted service / weight, as this router sees it: the shared base plus local charges. */
  counter = 0;
  /** Requests waiting, oldest first. */
  readonly queue: T[] = [];
  inFlight = 0;
  /** Service units (not divided by weight) charged here since start: metrics and fairness index. */
  served = 0;
  /** Counter increase from local charges not yet pushed to the shared store. */
  pending = 0;
  /** Lowest value the shared base must have after the next push (a lift); 0 = none. */
  floor = 0;

  constructor(key: string) {
    this.key = key;
  }
}

export class Vtc<T> {
  readonly options: VtcOptions;
  private readonly byKey = new Map<string, VtcClient<T>>();
  /** Keys with queued requests, in the order they became backlogged (the tie-break). */
  private readonly backlogged = new Set<VtcClient<T>>();
  private lastLeft = 0;
  /** Requests queued over all keys. */
  queued = 0;
  /** Requests dispatched and not finished over all keys. */
  inFlight = 0;

  constructor(options: VtcOptions = DEFAULT_VTC) {
    this.options = options;
  }

  /** The key's state, created on first sight (counter 0: a lift sets it when it first queues). */
  client(key: string, weight: number): VtcClient<T> {
    let c = this.byKey.get(key);
    if (c === undefined) {
      c = new VtcClient<T>(key);
      this.byKey.set(key, c);
    }
    c.weight = weight;
    return c;
  }

  clients(): IterableIterator<VtcClient<T>> {
    return this.byKey.values();
  }

  /** The key if known, without creating it (shared-counter updates for keys seen elsewhere). */
  find(key: string): VtcClient<T> | undefined {
    return this.byKey.get(key);
  }

  isBacklogged(c: VtcClient<T>): boolean {
    return this.backlogged.has(c);
  }

  backloggedClients(): IterableIterator<VtcClient<T>> {
    return this.backlogged.values();
  }

  enqueue(c: VtcClient<T>, item: T): void {
    if (c.queue.length === 0) {
      this.lift(c);
      this.backlogged.add(c);
    }
    c.queue.push(item);
    this.queued++;
  }

  /** Takes a waiting item out (its client left or it waited too long); false if it was not queued. */
  remove(c: VtcClient<T>, item: T): boolean {
    const i = c.queue.indexOf(item);
    if (i < 0) return false;
    c.queue.splice(i, 1);
    this.queued--;
    if (c.queue.length === 0) this.leave(c);
    return true;
  }

  /** The backlogged key the fair order serves next: the smallest counter, earliest backlogged on ties. */
  next(): VtcClient<T> | undefined {
    let best: VtcClient<T> | undefined;
    for (const c of this.backlogged) if (best === undefined || c.counter < best.counter) best = c;
    return best;
  }

  /** Dequeues the key's oldest item, counts it in flight and charges its input tokens. */
  dispatch(c: VtcClient<T>, inputTokens: (item: T) => number): T {
    const item = c.queue.shift() as T;
    this.queued--;
    if (c.queue.length === 0) this.leave(c);
    this.start(c, inputTokens(item));
    return item;
  }

  /** A request that goes straight to an engine (the pool is not saturated): in flight and charged. */
  start(c: VtcClient<T>, inputTokens: number): void {
    c.inFlight++;
    this.inFlight++;
    this.charge(c, inputTokens * this.options.inputWeight);
  }

  chargeOutput(c: VtcClient<T>, tokens: number): void {
    if (tokens !== 0) this.charge(c, tokens * this.options.outputWeight);
  }

  /** The engine's prompt count replaces the estimate charged at dispatch (may be negative). */
  correctInput(c: VtcClient<T>, delta: number): void {
    if (delta !== 0) this.charge(c, delta * this.options.inputWeight);
  }

  finish(c: VtcClient<T>): void {
    if (c.inFlight > 0) {
      c.inFlight--;
      this.inFlight--;
    }
  }

  /** Applies the shared base after a push; local charges since the push stay on top. */
  rebase(c: VtcClient<T>, base: number): void {
    c.counter = Math.max(base, c.floor) + c.pending;
  }

  private charge(c: VtcClient<T>, units: number): void {
    const v = units / c.weight;
    c.counter += v;
    c.pending += v;
    c.served += units;
  }

  private lift(c: VtcClient<T>): void {
    let floor = Number.POSITIVE_INFINITY;
    for (const o of this.backlogged) if (o.counter < floor) floor = o.counter;
    if (floor === Number.POSITIVE_INFINITY) floor = this.lastLeft;
    if (c.counter < floor) {
      c.counter = floor;
      // The shared base must reach (floor − local charges) so that base + pending = floor.
      c.floor = Math.max(c.floor, floor - c.pending);
    }
  }

  private leave(c: VtcClient<T>): void {
    this.backlogged.delete(c);
    this.lastLeft = c.counter;
  }
}

/** Jain's fairness index of x: 1 when all equal, 1/n when one takes everything. */
export function jainIndex(xs: readonly number[]): number {
  let sum = 0;
  let squares = 0;
  for (const x of xs) {
    sum += x;
    squares += x * x;
  }
  return squares === 0 ? 1 : (sum * sum) / (xs.length * squares);
}
