import { describe, expect, it } from "vitest";
import { createWorkQueue } from "./work-queue.ts";

describe("work queue", () => {
  it("hands a key out once however often it is added while waiting", async () => {
    const q = createWorkQueue();
    q.add("a");
    q.add("a");
    q.add("b");
    expect(q.length()).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
    expect(q.length()).toBe(0);
  });

  it("never gives a key to two workers at once; an add during processing runs once afterwards", async () => {
    const q = createWorkQueue();
    q.add("a");
    const key = await q.get();
    q.add("a");
    q.add("a");
    expect(q.length()).toBe(0); // held back while "a" is processing
    q.done(key!);
    expect(q.length()).toBe(1);
    expect(await q.get()).toBe("a");
  });

  it("wakes a waiting worker", async () => {
    const q = createWorkQueue();
    const next = q.get();
    q.add("x");
    expect(await next).toBe("x");
  });

  it("backs off per key, exponentially, and forgets after success", async () => {
    const q = createWorkQueue({ baseDelayMs: 20, maxDelayMs: 1000 });
    q.addRateLimited("k");
    q.addRateLimited("k");
    expect(q.failures("k")).toBe(2);
    expect(q.length()).toBe(0);
    expect(await q.get()).toBe("k"); // the earliest pending delay wins
    q.done("k");
    q.forget("k");
    expect(q.failures("k")).toBe(0);
  });

  it("keeps the sooner of two delayed adds", async () => {
    const q = createWorkQueue();
    q.addAfter("k", 60_000);
    q.addAfter("k", 1);
    expect(await q.get()).toBe("k");
    q.shutdown();
  });

  it("releases waiting workers on shutdown", async () => {
    const q = createWorkQueue();
    const next = q.get();
    q.shutdown();
    expect(await next).toBeUndefined();
    q.add("late");
    expect(q.length()).toBe(0);
  });
});
