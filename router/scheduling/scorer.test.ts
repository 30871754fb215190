import { describe, expect, it } from "vitest";
import { markResident, newReplica, type ReplicaState } from "./replica-state.ts";
import { pickReplica } from "./scorer.ts";

function replica(i: number, over: Partial<ReplicaState> & { holds?: string[] } = {}): ReplicaState {
  const r = newReplica("ns/pool", `http://10.0.0.${i}:8000`, `http://10.0.0.${i}:8001`);
  r.healthy = true;
  r.agentOk = true;
  r.maxLoras = 4;
  const { holds, ...rest } = over;
  Object.assign(r, rest);
  for (const name of holds ?? []) markResident(r, name, 0);
  return r;
}

describe("pickReplica", () => {
  it("prefers a replica where the adapter is resident, even when another is idle", () => {
    const rs = [replica(1), replica(2, { holds: ["a"], inFlight: 3 }), replica(3)];
    for (let start = 0; start < 6; start++)
      expect(pickReplica(rs, "a", undefined, start)?.id).toBe(rs[1]!.id);
  });

  it("counts an adapter this router is loading as resident", () => {
    const rs = [replica(1), replica(2)];
    rs[1]!.loading.add("a");
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[1]);
  });

  it("otherwise takes a replica with a free LoRA slot over a full one that is less loaded", () => {
    const rs = [replica(1, { holds: ["b", "c", "d", "e"] }), replica(2, { holds: ["f"], inFlight: 2 })];
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[1]);
    expect(pickReplica(rs, "a", undefined, 1)).toBe(rs[1]);
  });

  it("with no free slot anywhere, loads on the least loaded replica", () => {
    const full = ["b", "c", "d", "e"];
    const rs = [
      replica(1, { holds: full, inFlight: 2 }),
      replica(2, { holds: full, inFlight: 1 }),
      replica(3, { holds: full, inFlight: 5 }),
    ];
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[1]);
  });

  it("skips a resident replica whose load is well above the pool average", () => {
    // avg = (20 + 0 + 0 + 0) / 4 = 5, cap = max(7.5, 9) = 9: the holder at 20 is out.
    const rs = [
      replica(1, { holds: ["a"], inFlight: 20 }),
      replica(2, { inFlight: 0 }),
      replica(3),
      replica(4),
    ];
    const got = pickReplica(rs, "a", undefined, 0);
    expect(got).toBeDefined();
    expect(got).not.toBe(rs[0]);
    // …but one moderately above the average is still preferred for its residency.
    rs[0]!.inFlight = 5; // avg 1.25, cap 5.25
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[0]);
  });

  it("counts other routers' requests (externalLoad) toward the bound", () => {
    const rs = [replica(1, { holds: ["a"], externalLoad: 30 }), replica(2), replica(3)];
    expect(pickReplica(rs, "a", undefined, 0)).not.toBe(rs[0]);
  });

  it("skips a replica at its engine's batch limit while another has room", () => {
    const rs = [replica(1, { holds: ["a"], inFlight: 4, batchLimit: 4 }), replica(2, { batchLimit: 4 })];
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[1]);
    rs[1]!.inFlight = 4;
    // All full: still the resident one rather than a 503.
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[0]);
  });

  it("spreads a hot adapter over several replicas instead of piling onto one", () => {
    const rs = [1, 2, 3, 4].map((i) => replica(i));
    // 200 concurrent requests for one adapter; every pick "loads" it where it lands.
    for (let i = 0; i < 200; i++) {
      const r = pickReplica(rs, "hot", undefined, i)!;
      markResident(r, "hot", i);
      r.inFlight++;
    }
    const loads = rs.map((r) => r.inFlight);
    expect(rs.filter((r) => r.resident.has("hot")).length).toBeGreaterThanOrEqual(3);
    const avg = 200 / rs.length;
    for (const l of loads) expect(l).toBeLessThanOrEqual(Math.max(avg * 1.5, avg + 4) + 1);
  });

  it("keeps a cold adapter's concurrent requests together while its holder is not overloaded", () => {
    const rs = [1, 2, 3, 4].map((i) => replica(i));
    const first = pickReplica(rs, "cold", undefined, 0)!;
    first.loading.add("cold");
    for (let i = 1; i < 4; i++) {
      first.inFlight++;
      expect(pickReplica(rs, "cold", undefined, i)).toBe(first);
    }
  });

  it("never picks an unhealthy, removed or excluded replica", () => {
    const rs = [
      replica(1, { holds: ["a"], healthy: false }),
      replica(2, { holds: ["a"], removed: true }),
      replica(3, { holds: ["a"] }),
      replica(4),
    ];
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[2]);
    expect(pickReplica(rs, "a", new Set([rs[2]!.id]), 0)).toBe(rs[3]);
    expect(pickReplica(rs, undefined, new Set([rs[2]!.id, rs[3]!.id]), 0)).toBeUndefined();
    expect(pickReplica([], "a", undefined, 0)).toBeUndefined();
  });

  it("loads only where the agent is up, but serves a resident adapter where it is down", () => {
    const rs = [replica(1, { agentOk: false }), replica(2, { inFlight: 3 })];
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[1]);
    markResident(rs[0]!, "a", 0);
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[0]);
    rs[1]!.agentOk = false;
    expect(pickReplica(rs, "b", undefined, 0)).toBeUndefined();
    expect(pickReplica(rs, undefined, undefined, 0)).toBe(rs[0]);
  });

  it("falls back to an overloaded holder rather than failing when no one else can load", () => {
    const rs = [
      replica(1, { holds: ["a"], inFlight: 40 }),
      replica(2, { agentOk: false }),
      replica(3, { agentOk: false }),
    ];
    expect(pickReplica(rs, "a", undefined, 0)).toBe(rs[0]);
  });

  it("sends base-model requests to the least loaded replica, rotating among equals", () => {
    const rs = [replica(1, { inFlight: 2 }), replica(2, { inFlight: 1 }), replica(3, { inFlight: 1 })];
    const seen = new Set<string>();
    for (let start = 0; start < 6; start++) {
      const r = pickReplica(rs, undefined, undefined, start)!;
      expect(r.inFlight).toBe(1);
      seen.add(r.id);
    }
    expect(seen.size).toBe(2);
  });

  it("spreads an even base-model stream evenly", () => {
    const rs = [1, 2, 3, 4].map((i) => replica(i));
    for (let i = 0; i < 400; i++) pickReplica(rs, undefined, undefined, i)!.inFlight++;
    expect(rs.map((r) => r.inFlight)).toEqual([100, 100, 100, 100]);
  });
});
