// Fair-share counters shared by two routers through the real Redis: each router's scheduler
// (router/fairness/vtc.ts) with its own connection and sync loop, as two router processes run
// them. Charges made on one router change the order on the other after one exchange, the two
// converge on the same counters, and a lift made by both is not counted twice.
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createRedis, deleteKeysMatching } from "../../core/redis.ts";
import { type CounterSync, startCounterSync } from "../../router/fairness/shared-counters.ts";
import { Vtc } from "../../router/fairness/vtc.ts";
import { uniqueName } from "../support/unique.ts";

const POOL = "loraplex-system/shared";
const prefix = `${uniqueName("fair-test")}:`;
const connections: Redis[] = [];

type Router = { vtc: Vtc<string>; sync: CounterSync };
function router(): Router {
  const redis = createRedis(loadServiceConfig());
  connections.push(redis);
  const vtc = new Vtc<string>();
  // A long interval: the test exchanges explicitly with flush(), so the order is deterministic.
  const sync = startCounterSync({
    redis,
    key: (pool) => `${prefix}${pool}`,
    intervalMs: 60_000,
    pools: () => [{ ref: POOL, vtc }],
    logger: createLogger("test", "warn"),
  });
  return { vtc, sync };
}

// Fresh routers per test (as after a restart); the Redis hash, like production's, outlives them.
let a: Router;
let b: Router;
beforeEach(() => {
  a = router();
  b = router();
});
afterEach(async () => {
  await a.sync.stop();
  await b.sync.stop();
});
afterAll(async () => {
  if (connections[0]) await deleteKeysMatching(connections[0], `${prefix}*`);
  for (const r of connections) r.disconnect();
});

describe("fair-share counters across two routers", () => {
  it("orders a router's queue by service the other router dispatched, after one exchange", async () => {
    // Router A serves tenant x alone for a while.
    const ax = a.vtc.client("x", 1);
    a.vtc.start(ax, 400);
    a.vtc.chargeOutput(ax, 300);
    a.vtc.finish(ax);
    await a.sync.flush();
    // Router B has x and y waiting, x first; on its own it would serve x (equal counters).
    const bx = b.vtc.client("x", 1);
    const by = b.vtc.client("y", 1);
    b.vtc.enqueue(bx, "x1");
    b.vtc.enqueue(by, "y1");
    expect(b.vtc.next()).toBe(bx);
    await b.sync.flush();
    expect(bx.counter).toBe(1000);
    expect(b.vtc.next()).toBe(by);
    // After A's next exchange (it has y waiting too) both routers hold the same counters.
    a.vtc.enqueue(a.vtc.client("y", 1), "y2");
    await a.sync.flush();
    for (const key of ["x", "y"]) expect(a.vtc.find(key)!.counter).toBe(b.vtc.find(key)!.counter);
  });

  it("adds up charges from both routers but applies a lift both made only once", async () => {
    for (const r of [a, b]) {
      const w = r.vtc.client("w", 1);
      r.vtc.start(w, 500);
      r.vtc.enqueue(w, "w1");
      const z = r.vtc.client("z", 1);
      r.vtc.enqueue(z, "z1"); // lifted to w's local counter, 500
      expect(z.counter).toBe(500);
    }
    await a.sync.flush();
    await b.sync.flush();
    await a.sync.flush();
    for (const r of [a, b]) {
      expect(r.vtc.find("w")!.counter).toBe(1000);
      expect(r.vtc.find("z")!.counter).toBe(500);
    }
  });

  it("divides by the weight before sharing, so both routers see the weighted counter", async () => {
    const h = a.vtc.client("heavy", 2);
    a.vtc.start(h, 600);
    await a.sync.flush();
    b.vtc.enqueue(b.vtc.client("heavy", 2), "h1");
    await b.sync.flush();
    expect(b.vtc.find("heavy")!.counter).toBe(300);
  });
});
