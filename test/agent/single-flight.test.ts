// Concurrent loads of one adapter cost one S3 download and one engine load call, observed on
// the engine simulator's own counter of load_lora_adapter calls and the agent's download bytes.
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loraName } from "../../core/storage-layout.ts";
import { uniqueName } from "../support/unique.ts";
import {
  type Agent,
  engineAdapters,
  metricValue,
  putAdapter,
  type Sim,
  s3,
  startAgent,
  startSim,
  stopAll,
} from "./harness.ts";

describe("adapter agent: single flight", () => {
  const tenant = uniqueName("agsf");
  let s3c: S3Client;
  let sim: Sim;
  let agent: Agent;

  beforeAll(async () => {
    s3c = s3();
    sim = await startSim();
    agent = await startAgent({ engineUrl: sim.url });
  });
  afterAll(() => stopAll({ agent, sim, s3c }));

  const engineLoads = () =>
    metricValue(sim.url, "loraplex_sim_lora_api_requests_total", { operation: "load" });

  it("20 concurrent loads of one adapter: one download, one engine load call, one answer", async () => {
    const a = await putAdapter(s3c, tenant, "hot", 1, { sizeBytes: 4 << 20 });
    const req = { tenant, adapter: "hot", version: 1, source: a.source, sha256: a.sha256 };
    const results = await Promise.all(Array.from({ length: 20 }, () => agent.client.load(req)));

    expect(new Set(results.map((r) => r.lora_name))).toEqual(new Set([loraName(tenant, "hot", 1)]));
    // Callers that joined the flight share its answer; any that arrived after it landed find the
    // adapter already loaded. Either way: the same adapter, and no second download or load call.
    for (const r of results) {
      expect([
        { cached: false, already_loaded: false },
        { cached: true, already_loaded: true },
      ]).toContainEqual({ cached: r.cached, already_loaded: r.already_loaded });
      expect(r.bytes).toBe(a.bytes);
    }
    expect(results.filter((r) => !r.cached).length).toBeGreaterThan(1);
    expect(await engineLoads()).toBe(1);
    expect(await metricValue(agent.url, "loraplex_agent_download_bytes_total")).toBe(a.bytes);
    expect(await metricValue(agent.url, "loraplex_agent_download_seconds_count")).toBe(1);
    expect(await engineAdapters(sim.url)).toEqual([loraName(tenant, "hot", 1)]);
  });

  it("concurrent loads of different adapters run side by side, one load call each", async () => {
    const names = ["one", "two", "three", "four"];
    const sources = await Promise.all(names.map((n) => putAdapter(s3c, tenant, n, 1)));
    const before = await engineLoads();
    const results = await Promise.all(
      names.flatMap((n, i) =>
        [0, 1, 2].map(() =>
          agent.client.load({ tenant, adapter: n, version: 1, source: sources[i]!.source }),
        ),
      ),
    );
    expect(new Set(results.map((r) => r.lora_name)).size).toBe(4);
    expect(await engineLoads()).toBe(before + 4);
  });
});
