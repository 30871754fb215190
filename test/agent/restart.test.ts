// Engine restarts: a restarted engine has forgotten every runtime-loaded adapter. The agent must
// never report such an adapter as loaded, must re-register it from its disk cache, and must drop
// (report as gone) one whose files disappeared. An agent restart adopts what is on disk.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loraName } from "../../core/storage-layout.ts";
import { uniqueName } from "../support/unique.ts";
import {
  type Agent,
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

describe("adapter agent: engine and agent restarts", () => {
  const tenant = uniqueName("agr");
  let s3c: S3Client;
  let sim: Sim;
  let agent: Agent;
  const sources: Record<string, string> = {};
  const name = (adapter: string) => loraName(tenant, adapter, 1);

  beforeAll(async () => {
    s3c = s3();
    for (const a of ["first", "second"]) sources[a] = (await putAdapter(s3c, tenant, a, 1)).source;
    sim = await startSim();
    agent = await startAgent({ engineUrl: sim.url });
    for (const a of ["first", "second"])
      await agent.client.load({ tenant, adapter: a, version: 1, source: sources[a]! });
  });
  afterAll(() => stopAll({ agent, sim, s3c }));

  async function crashAndRestartEngine(between?: () => Promise<void>): Promise<void> {
    await fetch(`${sim.url}/sim/crash`, { method: "POST" }).catch(() => {});
    await sim.proc.exited;
    // While the engine is gone, nothing is reported loaded.
    const inv = await agent.client.list();
    expect(inv.adapters.length).toBeGreaterThan(0);
    for (const a of inv.adapters) expect(a.loaded).toBe(false);
    expect(await agent.client.health()).toMatchObject({ status: "unavailable", engine: "unavailable" });
    await between?.();
    sim = await startSim({ port: sim.port });
  }

  it("re-registers every adapter from the disk cache after the engine restarts", async () => {
    const downloaded = await metricValue(agent.url, "loraplex_agent_download_bytes_total");
    await crashAndRestartEngine();
    // Right after the restart the engine is empty; the inventory must agree until the reload.
    await eventually(
      async () =>
        (await engineAdapters(sim.url)).sort().join() === [name("first"), name("second")].sort().join(),
      "the agent to re-register both adapters",
    );
    const inv = await agent.client.list();
    expect(inv.adapters.map((a) => [a.lora_name, a.loaded]).sort()).toEqual(
      [
        [name("first"), true],
        [name("second"), true],
      ].sort(),
    );
    expect(
      await metricValue(agent.url, "loraplex_agent_reconcile_actions_total", { action: "reloaded" }),
    ).toBe(2);
    expect(await metricValue(agent.url, "loraplex_agent_download_bytes_total")).toBe(downloaded);
  });

  it("reports an adapter as gone when its files vanished while the engine was down", async () => {
    await crashAndRestartEngine(async () => {
      await rm(join(agent.cacheDir, name("second")), { recursive: true, force: true });
    });
    await eventually(async () => (await engineAdapters(sim.url)).join() === name("first"), "first reloaded");
    await eventually(
      async () => (await agent.client.list()).adapters.every((a) => a.lora_name !== name("second")),
      "second dropped from the inventory",
    );
    expect((await agent.client.list()).adapters).toMatchObject([{ lora_name: name("first"), loaded: true }]);
    expect(await metricValue(agent.url, "loraplex_agent_reconcile_actions_total", { action: "gone" })).toBe(
      1,
    );
    // Asked again, it is downloaded anew.
    const r = await agent.client.load({ tenant, adapter: "second", version: 1, source: sources.second! });
    expect(r).toMatchObject({ cached: false, already_loaded: false });
  });

  it("a restarted agent adopts the adapters on its disk that the engine still has", async () => {
    const cacheDir = agent.cacheDir;
    await agent.stop();
    agent = await startAgent({ engineUrl: sim.url, cacheDir });
    const inv = await agent.client.list();
    expect(inv.adapters.map((a) => [a.lora_name, a.loaded]).sort()).toEqual(
      [
        [name("first"), true],
        [name("second"), true],
      ].sort(),
    );
    const r = await agent.client.load({ tenant, adapter: "first", version: 1, source: sources.first! });
    expect(r).toMatchObject({ cached: true, already_loaded: true });
    expect(await metricValue(agent.url, "loraplex_agent_download_bytes_total")).toBe(0);
  });
});
