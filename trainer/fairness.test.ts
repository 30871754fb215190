import { describe, expect, it } from "vitest";
import { planDispatch, type Waiting } from "./fairness.ts";

const jobs = (tenant: string, n: number): Waiting[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${tenant}-${i}`, tenant }));
const base = { limitOf: () => Number.POSITIVE_INFINITY, weightOf: () => 1 };

describe("planDispatch", () => {
  it("gives a tenant with one job the next free slot even behind 100 jobs of another", () => {
    const waiting = [...jobs("hog", 100), ...jobs("small", 1)];
    // The hog already holds 3 of 4 slots: the one free slot goes to the tenant holding none.
    const picked = planDispatch({ ...base, waiting, running: new Map([["hog", 3]]), capacity: 4 });
    expect(picked.map((j) => j.id)).toEqual(["small-0"]);
  });

  it("splits capacity round-robin, oldest job first on ties", () => {
    const waiting = [...jobs("a", 10), ...jobs("b", 10), ...jobs("c", 1)];
    const picked = planDispatch({ ...base, waiting, running: new Map(), capacity: 5 });
    expect(picked.map((j) => j.id)).toEqual(["a-0", "b-0", "c-0", "a-1", "b-1"]);
  });

  it("serves every tenant over time: 20 tenants × 50 jobs drain evenly at capacity 4", () => {
    const waiting = Array.from({ length: 20 }, (_, t) => jobs(`t${t}`, 50)).flat();
    const served = new Map<string, number>();
    const lastServed = new Map<string, number>();
    let queue = waiting;
    // Each round every running job finishes (all at once, the hardest case for round robin) and
    // the freed slots are planned again.
    for (let round = 0; round < 50; round++) {
      const picked = planDispatch({ ...base, waiting: queue, running: new Map(), capacity: 4, lastServed });
      for (const j of picked) {
        served.set(j.tenant, (served.get(j.tenant) ?? 0) + 1);
        lastServed.set(j.tenant, round + 1);
      }
      const ids = new Set(picked.map((j) => j.id));
      queue = queue.filter((j) => !ids.has(j.id));
    }
    expect(served.size).toBe(20);
    expect(new Set(served.values())).toEqual(new Set([10]));
  });

  it("honours each tenant's own cap and the global capacity", () => {
    const waiting = [...jobs("capped", 5), ...jobs("free", 5)];
    const limitOf = (t: string) => (t === "capped" ? 1 : Number.POSITIVE_INFINITY);
    const picked = planDispatch({
      ...base,
      limitOf,
      waiting,
      running: new Map([["capped", 1]]),
      capacity: 4,
    });
    expect(picked.map((j) => j.tenant)).toEqual(["free", "free", "free"]);
    expect(planDispatch({ ...base, waiting, running: new Map([["free", 4]]), capacity: 4 })).toEqual([]);
    expect(planDispatch({ ...base, limitOf: () => 0, waiting, running: new Map(), capacity: 4 })).toEqual([]);
  });

  it("weights shares by tier without starving the lighter tier", () => {
    const waiting = [...jobs("shared", 10), ...jobs("dedicated", 10)];
    const weightOf = (t: string) => (t === "dedicated" ? 2 : 1);
    const picked = planDispatch({ ...base, weightOf, waiting, running: new Map(), capacity: 6 });
    const count = (t: string) => picked.filter((j) => j.tenant === t).length;
    expect(count("dedicated")).toBe(4);
    expect(count("shared")).toBe(2);
  });
});
