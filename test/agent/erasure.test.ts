// Tenant erasure on the agent: every adapter of the tenant unloaded from the engine and deleted
// from disk; other tenants' adapters untouched.
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loraName } from "../../core/storage-layout.ts";
import { uniqueName } from "../support/unique.ts";
import {
  type Agent,
  cacheContents,
  engineAdapters,
  eventually,
  metricValue,
  putAdapter,
  type Sim,
  s3,
  startAgent,
  startSim,
  stopAll,
} from "./harness.ts";

describe("adapter agent: tenant erasure", () => {
  const leaving = uniqueName("ager-leaving");
  const staying = uniqueName("ager-staying");
  let s3c: S3Client;
  let sim: Sim;
  let agent: Agent;

  beforeAll(async () => {
    s3c = s3();
    sim = await startSim();
    agent = await startAgent({ engineUrl: sim.url });
  });
  afterAll(() => stopAll({ agent, sim, s3c }));

  it("DELETE /tenants/{tenant}/adapters removes exactly that tenant's adapters", async () => {
    const loads: [string, string, number][] = [
      [leaving, "bot", 1],
      [leaving, "bot", 2],
      [leaving, "summarizer", 1],
      [staying, "bot", 1],
    ];
    for (const [tenant, adapter, version] of loads) {
      const a = await putAdapter(s3c, tenant, adapter, version);
      await agent.client.load({ tenant, adapter, version, source: a.source });
    }
    // A load still in flight when erasure starts is erased too.
    const late = await putAdapter(s3c, leaving, "late", 1, { sizeBytes: 4 << 20 });
    const lateLoad = agent.client.load({ tenant: leaving, adapter: "late", version: 1, source: late.source });
    await eventually(
      async () =>
        (await metricValue(agent.url, "loraplex_agent_loads_in_flight")) > 0 ||
        (await agent.client.list()).adapters.some((a) => a.adapter === "late"),
      "the late load to reach the agent",
    );

    expect(await agent.client.eraseTenant(leaving)).toEqual({ removed: 4 });
    await lateLoad;

    const survivor = loraName(staying, "bot", 1);
    expect(await engineAdapters(sim.url)).toEqual([survivor]);
    expect((await cacheContents(agent.cacheDir)).entries).toEqual([survivor]);
    expect((await agent.client.list()).adapters.map((a) => a.tenant)).toEqual([staying]);
  });

  it("erasing a tenant with nothing on this agent removes nothing", async () => {
    expect(await agent.client.eraseTenant(uniqueName("ager-none"))).toEqual({ removed: 0 });
    expect(await engineAdapters(sim.url)).toEqual([loraName(staying, "bot", 1)]);
  });
});
