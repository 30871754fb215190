// Collapses concurrent calls for the same key into one: every caller that arrives while the
// first is running gets the first one's result (or error). Nothing is cached afterwards.
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  do(key: string, fn: () => Promise<T>): { promise: Promise<T>; shared: boolean } {
    const running = this.inFlight.get(key);
    if (running) return { promise: running, shared: true };
    const promise = fn().finally(() => {
      this.inFlight.delete(key);
    });
    this.inFlight.set(key, promise);
    return { promise, shared: false };
  }

  get size(): number {
    return this.inFlight.size;
  }
}
