// The disk cache under a byte budget: least recently used adapters are evicted, and each is
// unloaded from the engine before its files go (vLLM re-reads a registered adapter's files).
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loraName } from "../../core/storage-layout.ts";
import { uniqueName } from "../support/unique.ts";
import {
  type Agent,
  cacheContents,
  engineAdapters,
  metricValue,
  putAdapter,
  type Sim,
  s3,
  startAgent,
  startSim,
  stopAll,
} from "./harness.ts";

describe("adapter agent: LRU eviction under --cache-max-bytes", () => {
  const tenant = uniqueName("age");
  const size = 256 * 1024;
  let s3c: S3Client;
  let sim: Sim;
  let agent: Agent;
  const sources: Record<string, string> = {};
  let adapterBytes = 0;

  beforeAll(async () => {
    s3c = s3();
    for (const name of ["alpha", "beta", "gamma"]) {
      const a = await putAdapter(s3c, tenant, name, 1, { sizeBytes: size });
      sources[name] = a.source;
      adapterBytes = a.bytes;
    }
    const huge = await putAdapter(s3c, tenant, "huge", 1, { sizeBytes: 4 * size });
    sources.huge = huge.source;
    sim = await startSim();
    // Room for two of the three adapters.
    agent = await startAgent({
      engineUrl: sim.url,
      args: ["--cache-max-bytes", String(Math.floor(adapterBytes * 2.5))],
    });
  });
  afterAll(() => stopAll({ agent, sim, s3c }));

  const load = (adapter: string) =>
    agent.client.load({ tenant, adapter, version: 1, source: sources[adapter]! });
  const name = (adapter: string) => loraName(tenant, adapter, 1);

  it("evicts the least recently used adapter, unloading it from the engine first", async () => {
    await load("alpha");
    await load("beta");
    // alpha is used again, so beta is now the least recently used.
    expect(await load("alpha")).toMatchObject({ already_loaded: true });
    const unloadsBefore = await metricValue(sim.url, "loraplex_sim_lora_api_requests_total", {
      operation: "unload",
      status: "200",
    });

    expect(await load("gamma")).toMatchObject({ cached: false });

    expect((await engineAdapters(sim.url)).sort()).toEqual([name("alpha"), name("gamma")].sort());
    expect(
      await metricValue(sim.url, "loraplex_sim_lora_api_requests_total", {
        operation: "unload",
        status: "200",
      }),
    ).toBe(unloadsBefore + 1);
    expect((await cacheContents(agent.cacheDir)).entries).toEqual([name("alpha"), name("gamma")].sort());
    const inv = await agent.client.list();
    expect(inv.adapters.map((a) => a.lora_name).sort()).toEqual([name("alpha"), name("gamma")].sort());
    expect(inv.cache_bytes).toBe(2 * adapterBytes);
    expect(inv.cache_bytes).toBeLessThanOrEqual(inv.cache_max_bytes);
    expect(await metricValue(agent.url, "loraplex_agent_evictions_total")).toBe(1);
  });

  it("an evicted adapter comes back by downloading it again", async () => {
    expect(await load("beta")).toMatchObject({
      lora_name: name("beta"),
      cached: false,
      already_loaded: false,
    });
    expect(await engineAdapters(sim.url)).toContain(name("beta"));
    expect((await agent.client.list()).cache_bytes).toBe(2 * adapterBytes);
  });

  it("an adapter larger than the whole budget: 507 adapter_too_large, nothing evicted", async () => {
    const before = (await agent.client.list()).adapters.map((a) => a.lora_name).sort();
    const err = await load("huge").catch((e) => e);
    expect(err).toMatchObject({ status: 507, code: "adapter_too_large" });
    expect((await agent.client.list()).adapters.map((a) => a.lora_name).sort()).toEqual(before);
    expect((await cacheContents(agent.cacheDir)).temp).toEqual([]);
  });
});
