// The VTC's order on recorded traces, replayed through a small discrete-time pool: K batch
// slots, each running request generates one token per tick. Arrivals go straight in while a
// slot is free and nothing waits (as the router's gate does), otherwise they queue.
import { describe, expect, it } from "vitest";
import { jainIndex, Vtc, type VtcClient } from "./vtc.ts";

type Req = { id: string; at: number; key: string; input: number; output: number };
type Running = { req: Req; client: VtcClient<Req>; left: number };

/** Trace lines: "<tick> <key> <input tokens> <output tokens>"; ids are key + running number. */
function trace(text: string): Req[] {
  const seen = new Map<string, number>();
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [at, key, input, output] = line.trim().split(/\s+/) as [string, string, string, string];
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      return { id: `${key}${n}`, at: Number(at), key, input: Number(input), output: Number(output) };
    });
}

function replay(reqs: Req[], slots: number, weights: Record<string, number> = {}, maxTicks = 10_000) {
  const vtc = new Vtc<Req>();
  const order: string[] = [];
  const running: Running[] = [];
  /** Service units per key, sampled every tick while both given keys were backlogged. */
  const gaps: number[] = [];
  let idleWhileBacklogged = 0;
  const pending = [...reqs].sort((a, b) => a.at - b.at);
  const client = (key: string) => vtc.client(key, weights[key] ?? 1);
  const start = (req: Req, c: VtcClient<Req>) => {
    order.push(req.id);
    running.push({ req, client: c, left: req.output });
  };
  for (let t = 0; t < maxTicks && (pending.length || running.length || vtc.queued); t++) {
    while (pending.length && pending[0]!.at === t) {
      const req = pending.shift()!;
      const c = client(req.key);
      if (vtc.queued === 0 && vtc.inFlight < slots) {
        vtc.start(c, req.input);
        start(req, c);
      } else vtc.enqueue(c, req);
    }
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i]!;
      vtc.chargeOutput(r.client, 1);
      if (--r.left === 0) {
        vtc.finish(r.client);
        running.splice(i, 1);
      }
    }
    while (vtc.queued > 0 && vtc.inFlight < slots) {
      const c = vtc.next()!;
      start(
        vtc.dispatch(c, (r) => r.input),
        c,
      );
    }
    if (vtc.queued > 0 && vtc.inFlight < slots) idleWhileBacklogged++;
    const back = [...vtc.backloggedClients()];
    if (back.length >= 2) {
      const ws = back.map((c) => c.counter);
      gaps.push(Math.max(...ws) - Math.min(...ws));
    }
  }
  return { vtc, order, gaps, idleWhileBacklogged, served: (key: string) => vtc.find(key)?.served ?? 0 };
}

describe("VTC order on recorded traces", () => {
  it("interleaves a steady tenant between a noisy tenant's backlog instead of behind it", () => {
    // noisy sends 8 at once; steady sends one every 10 ticks; one slot.
    const t = trace(`
      0 noisy 10 10
      0 noisy 10 10
      0 noisy 10 10
      0 noisy 10 10
      0 noisy 10 10
      0 noisy 10 10
      0 noisy 10 10
      0 noisy 10 10
      5 steady 10 10
      15 steady 10 10
      25 steady 10 10`);
    const { order } = replay(t, 1);
    // FCFS would serve noisy1..noisy8 first. VTC lifts steady to noisy's counter on arrival
    // (noisy1's input and streamed output so far), and noisy1's remaining output then puts
    // noisy behind: each steady request goes next.
    expect(order).toEqual([
      "noisy1",
      "steady1",
      "noisy2",
      "steady2",
      "noisy3",
      "steady3",
      "noisy4",
      "noisy5",
      "noisy6",
      "noisy7",
      "noisy8",
    ]);
  });

  it("lifts a returning key so it cannot spend credit banked while idle", () => {
    // a is served alone for a long time, then b (idle so far) floods: they alternate at once
    // rather than b taking its whole backlog first.
    const lines = ["0 a 5 5", "0 a 5 5", "0 a 5 5", "0 a 5 5", "0 a 5 5", "0 a 5 5"];
    for (let i = 0; i < 6; i++) lines.push("12 b 5 5");
    const { order } = replay(trace(lines.join("\n")), 1);
    expect(order.slice(0, 2)).toEqual(["a1", "a2"]);
    const after = order.slice(order.indexOf("b1"));
    expect(after.slice(0, 6)).toEqual(["b1", "a4", "b2", "a5", "b3", "a6"]);
  });

  it("breaks counter ties by the order keys became backlogged", () => {
    const t = trace(`
      0 x 1 1
      0 z 4 4
      0 y 4 4
      0 x 4 4`);
    // x1 starts at once (nothing queued); z, y, x queue with the lift to z's counter.
    expect(replay(t, 1).order).toEqual(["x1", "z1", "y1", "x2"]);
  });

  it("gives a weight-2 key twice the service of a weight-1 key while both are backlogged", () => {
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) lines.push("0 heavy 20 20", "0 light 20 20");
    const { order, vtc } = replay(trace(lines.join("\n")), 2, { heavy: 2 });
    // Count service in the window where both were still backlogged: the first 45 dispatches.
    const first = order.slice(0, 45);
    const heavy = first.filter((id) => id.startsWith("heavy")).length;
    const light = first.filter((id) => id.startsWith("light")).length;
    expect(heavy / light).toBeGreaterThanOrEqual(1.9);
    expect(heavy / light).toBeLessThanOrEqual(2.1);
    expect(vtc.queued).toBe(0);
  });

  it("keeps the counter gap between backlogged keys within the paper's bound", () => {
    // Uneven request sizes from three keys; the bound is 2 × the largest request's service
    // divided by the smallest weight, plus one slot's worth of in-flight output.
    const sizes = [
      [50, 10],
      [5, 80],
      [30, 30],
    ];
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      for (const [k, key] of ["p", "q", "r"].entries()) {
        const [input, output] = sizes[(i + k) % 3]!;
        lines.push(`${i * 3} ${key} ${input} ${output}`);
      }
    }
    const { gaps } = replay(trace(lines.join("\n")), 3);
    const largest = Math.max(...sizes.map(([i, o]) => i! + 2 * o!));
    expect(gaps.length).toBeGreaterThan(100);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2 * largest);
  });

  it("never idles a slot while a key is backlogged (work conserving)", () => {
    const lines: string[] = [];
    for (let i = 0; i < 30; i++) lines.push(`0 a 3 7`, `${i} b 3 7`);
    const { order, vtc, idleWhileBacklogged } = replay(trace(lines.join("\n")), 4);
    expect(order).toHaveLength(60);
    expect(vtc.queued).toBe(0);
    expect(idleWhileBacklogged).toBe(0);
  });
});

describe("VTC bookkeeping", () => {
  it("charges input at dispatch and output per token, divided by the weight", () => {
    const vtc = new Vtc<number>({ inputWeight: 1, outputWeight: 2 });
    const c = vtc.client("t", 2);
    vtc.start(c, 100);
    expect(c.counter).toBe(50);
    vtc.chargeOutput(c, 10);
    expect(c.counter).toBe(60);
    vtc.correctInput(c, -20);
    expect(c.counter).toBe(50);
    expect(c.served).toBe(100);
    vtc.finish(c);
    expect(vtc.inFlight).toBe(0);
  });

  it("removes a waiting item without charging it, and forgets an empty key's backlog", () => {
    const vtc = new Vtc<string>();
    const a = vtc.client("a", 1);
    vtc.enqueue(a, "r1");
    vtc.enqueue(a, "r2");
    expect(vtc.remove(a, "r1")).toBe(true);
    expect(vtc.remove(a, "r1")).toBe(false);
    expect(vtc.remove(a, "r2")).toBe(true);
    expect(a.counter).toBe(0);
    expect(vtc.isBacklogged(a)).toBe(false);
    expect(vtc.next()).toBeUndefined();
  });

  it("records a lift as a floor for the shared base, net of local charges", () => {
    const vtc = new Vtc<string>();
    const a = vtc.client("a", 1);
    const b = vtc.client("b", 1);
    vtc.start(a, 500);
    vtc.enqueue(a, "a1");
    vtc.start(b, 30);
    vtc.enqueue(b, "b1"); // lifted from 30 to 500
    expect(b.counter).toBe(500);
    expect(b.floor).toBe(470);
    // A push returns base 470 (the floor applied): the counter stays 500 with pending 30 on top.
    b.pending = 30;
    b.floor = 0;
    vtc.rebase(b, 470);
    expect(b.counter).toBe(500);
  });

  it("computes Jain's index", () => {
    expect(jainIndex([1, 1, 1, 1])).toBe(1);
    expect(jainIndex([1, 0, 0, 0])).toBe(0.25);
    expect(jainIndex([2, 1])).toBeCloseTo(0.9, 5);
  });
});
