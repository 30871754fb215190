import { describe, expect, it } from "vitest";
import { parsePoolRef, poolRefFor } from "../../core/cluster-layout.ts";
import { parseTenant } from "../../core/tenant.ts";
import { parseEnginesFlag } from "./discovery-static.ts";
import { parseEngineMetrics } from "./engine-metrics.ts";
import { applyEngineLoad, applyInventory, markResident, newReplica } from "./replica-state.ts";

describe("poolRefFor", () => {
  const tenant = (spec: Record<string, unknown>) => {
    const r = parseTenant({
      apiVersion: "loraplex.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: "globex" },
      spec: { models: ["m"], ...spec },
    });
    if (!r.ok) throw new Error(r.error);
    return r.tenant;
  };
  it("maps shared tenants to the system namespace and dedicated ones to their own", () => {
    expect(poolRefFor(tenant({}), "loraplex-system")).toBe("loraplex-system/shared");
    expect(poolRefFor(tenant({ pool: "big" }), "sys")).toBe("sys/big");
    expect(poolRefFor(tenant({ tier: "dedicated", dedicated: { replicas: 1 } }), "sys")).toBe(
      "tenant-globex/engine",
    );
  });
  it("rejects malformed refs", () => {
    expect(parsePoolRef("a/b")).toEqual({ namespace: "a", name: "b" });
    for (const bad of ["ab", "/b", "a/", "A/b", "a/b/c"])
      expect(() => parsePoolRef(bad)).toThrow(/namespace/);
  });
});

describe("parseEnginesFlag", () => {
  it("parses pools of engine|agent pairs", () => {
    const got = parseEnginesFlag(
      "loraplex-system/shared=http://127.0.0.1:8000|http://127.0.0.1:8001, http://127.0.0.1:8010/|http://127.0.0.1:8011;tenant-globex/engine=http://127.0.0.1:8020|http://127.0.0.1:8021",
    );
    expect([...got.keys()]).toEqual(["loraplex-system/shared", "tenant-globex/engine"]);
    expect(got.get("loraplex-system/shared")).toEqual([
      { engineUrl: "http://127.0.0.1:8000", agentUrl: "http://127.0.0.1:8001" },
      { engineUrl: "http://127.0.0.1:8010", agentUrl: "http://127.0.0.1:8011" },
    ]);
  });
  it("names what is wrong", () => {
    expect(() => parseEnginesFlag("shared=http://a|http://b")).toThrow(/<namespace>\/<pool>/);
    expect(() => parseEnginesFlag("ns/p=http://a")).toThrow(/<engineUrl>\|<agentUrl>/);
    expect(() => parseEnginesFlag("ns/p=ftp://a|http://b")).toThrow(/http/);
    expect(() => parseEnginesFlag("ns/p=http://a/v1|http://b")).toThrow(/bare origin/);
    expect(() => parseEnginesFlag("ns/p=http://a|http://b;ns/q=http://a|http://c")).toThrow(/twice/);
    expect(() => parseEnginesFlag("ns/p=")).toThrow(/no replicas/);
  });
});

describe("parseEngineMetrics", () => {
  it("sums load and reads the newest lora_requests_info series", () => {
    const text = [
      "# HELP vllm:num_requests_running Number of requests in model execution batches.",
      "# TYPE vllm:num_requests_running gauge",
      'vllm:num_requests_running{model_name="m",engine="0"} 3',
      'vllm:num_requests_waiting{model_name="m",engine="0"} 2.0',
      'vllm:num_requests_running_total{model_name="m"} 99',
      'vllm:lora_requests_info{max_lora="4",waiting_lora_adapters="",running_lora_adapters="old"} 1700000000.5',
      'vllm:lora_requests_info{max_lora="4",waiting_lora_adapters="c",running_lora_adapters="a,b"} 1700000001.25',
    ].join("\n");
    expect(parseEngineMetrics(text)).toEqual({
      running: 3,
      waiting: 2,
      kvUsage: undefined,
      maxLoras: 4,
      activeAdapters: ["a", "b", "c"],
    });
  });
  it("copes with an engine that has no LoRA series", () => {
    expect(parseEngineMetrics("vllm:num_requests_running 1\n")).toEqual({
      running: 1,
      waiting: 0,
      kvUsage: undefined,
      maxLoras: undefined,
      activeAdapters: [],
    });
  });
  it("reads KV-cache usage under its current and its pre-0.10 name", () => {
    expect(parseEngineMetrics('vllm:kv_cache_usage_perc{model_name="m"} 0.97\n').kvUsage).toBe(0.97);
    expect(parseEngineMetrics("vllm:gpu_cache_usage_perc 0.5\n").kvUsage).toBe(0.5);
  });
});

describe("applyEngineLoad", () => {
  it("learns the batch limit from a scrape that saw requests waiting, and the waiting trend", () => {
    const r = newReplica("ns/p", "http://e", "http://a");
    applyEngineLoad(r, { running: 3, waiting: 0, kvUsage: 0.2 }, 3);
    expect(r.batchLimit).toBe(Number.POSITIVE_INFINITY);
    applyEngineLoad(r, { running: 8, waiting: 5, kvUsage: 0.4 }, 10);
    expect([r.batchLimit, r.waitingRising, r.externalLoad, r.kvUsage]).toEqual([8, true, 3, 0.4]);
    applyEngineLoad(r, { running: 6, waiting: 2, kvUsage: 0.99 }, 8);
    expect([r.batchLimit, r.waitingRising]).toEqual([8, false]);
  });
  it("keeps a configured batch limit", () => {
    const r = newReplica("ns/p", "http://e", "http://a", 4);
    applyEngineLoad(r, { running: 16, waiting: 5, kvUsage: undefined }, 21);
    expect(r.batchLimit).toBe(4);
  });
});

describe("applyInventory", () => {
  it("replaces residency but keeps names confirmed after the inventory was asked for", () => {
    const r = newReplica("ns/p", "http://e", "http://a");
    markResident(r, "old", 1);
    markResident(r, "loaded-meanwhile", 20);
    applyInventory(r, ["x", "y"], 10);
    expect([...r.resident].sort()).toEqual(["loaded-meanwhile", "x", "y"]);
    applyInventory(r, [], 30);
    expect(r.resident.size).toBe(0);
  });
});
