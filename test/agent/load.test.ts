// The adapter agent's happy paths, end to end: real S3 server, real engine simulator process,
// real agent process, driven through the typed client the router uses.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../../agent-api/client.ts";
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

describe("adapter agent: load, cache, list, delete", () => {
  const tenant = uniqueName("agl");
  let s3c: S3Client;
  let sim: Sim;
  let agent: Agent;
  let source = "";

  beforeAll(async () => {
    s3c = s3();
    sim = await startSim();
    // No periodic reconcile here: these tests drop an adapter from the engine on purpose and
    // check what the next load does (restart.test.ts covers the periodic reload).
    agent = await startAgent({ engineUrl: sim.url, args: ["--reconcile-interval-ms", "3600000"] });
  });
  afterAll(() => stopAll({ agent, sim, s3c }));

  const engineLoadCalls = () =>
    metricValue(sim.url, "loraplex_sim_lora_api_requests_total", { operation: "load" });

  it("downloads, verifies and loads an adapter under the name it derives, with timings", async () => {
    const a = await putAdapter(s3c, tenant, "support-bot", 1, { sizeBytes: 1 << 20 });
    source = a.source;
    const r = await agent.client.load({
      tenant,
      adapter: "support-bot",
      version: 1,
      source: a.source,
      sha256: a.sha256,
    });
    const name = loraName(tenant, "support-bot", 1);
    expect(r).toMatchObject({
      lora_name: name,
      tenant,
      adapter: "support-bot",
      version: 1,
      bytes: a.bytes,
      cached: false,
      already_loaded: false,
    });
    expect(r.download_ms).toBeGreaterThan(0);
    expect(r.load_ms).toBeGreaterThan(0);
    expect(await engineAdapters(sim.url)).toEqual([name]);

    // The engine's card points at the agent's verified copy, which is byte-identical to S3's.
    const models = (await (await fetch(`${sim.url}/v1/models`)).json()) as {
      data: { id: string; root: string }[];
    };
    expect(models.data.find((m) => m.id === name)?.root).toBe(join(agent.cacheDir, name));
    const onDisk = await readFile(join(agent.cacheDir, name, "adapter_model.safetensors"));
    expect(createHash("sha256").update(onDisk).digest("hex")).toBe(a.sha256);

    const inv = await agent.client.list();
    expect(inv.adapters).toEqual([
      {
        lora_name: name,
        tenant,
        adapter: "support-bot",
        version: 1,
        bytes: a.bytes,
        last_used: expect.any(String),
        loaded: true,
      },
    ]);
    expect(inv.cache_bytes).toBe(a.bytes);
    expect(inv.cache_max_bytes).toBe(10 * 2 ** 30);
  });

  it("the engine serves requests with the loaded adapter", async () => {
    const r = await fetch(`${sim.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: loraName(tenant, "support-bot", 1),
        messages: [{ role: "user", content: "hello" }],
        max_tokens: 4,
      }),
    });
    expect(r.status).toBe(200);
  });

  it("answers a repeated load from what the engine already has, without a load call", async () => {
    const before = await engineLoadCalls();
    const r = await agent.client.load({ tenant, adapter: "support-bot", version: 1, source });
    expect(r).toMatchObject({ cached: true, already_loaded: true, download_ms: 0, load_ms: 0 });
    expect(await engineLoadCalls()).toBe(before);
  });

  it("reloads from the disk cache, without downloading, after the engine dropped the adapter", async () => {
    const name = loraName(tenant, "support-bot", 1);
    const unload = await fetch(`${sim.url}/v1/unload_lora_adapter`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lora_name: name }),
    });
    expect(unload.status).toBe(200);
    // The inventory never claims what the engine does not have.
    expect((await agent.client.list()).adapters).toMatchObject([{ lora_name: name, loaded: false }]);

    const downloaded = await metricValue(agent.url, "loraplex_agent_download_bytes_total");
    const r = await agent.client.load({ tenant, adapter: "support-bot", version: 1, source });
    expect(r).toMatchObject({ lora_name: name, cached: true, already_loaded: false, download_ms: 0 });
    expect(await metricValue(agent.url, "loraplex_agent_download_bytes_total")).toBe(downloaded);
    expect(await engineAdapters(sim.url)).toEqual([name]);
    expect(await metricValue(agent.url, "loraplex_agent_loads_total", { result: "disk_hit" })).toBe(1);
  });

  it("refuses the same version from another source: a version's content never changes", async () => {
    const other = await putAdapter(s3c, tenant, "support-bot-copy", 1);
    const err = await agent.client
      .load({ tenant, adapter: "support-bot", version: 1, source: other.source })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 409, code: "version_conflict" });
  });

  it("DELETE /adapters/{lora_name} unloads from the engine and removes the files", async () => {
    const name = loraName(tenant, "support-bot", 1);
    expect(await agent.client.unload(name)).toEqual({ lora_name: name, unloaded: true, removed: true });
    expect(await engineAdapters(sim.url)).toEqual([]);
    expect(await cacheContents(agent.cacheDir)).toEqual({ entries: [], temp: [] });
    expect(await agent.client.list()).toEqual({
      adapters: [],
      cache_bytes: 0,
      cache_max_bytes: 10 * 2 ** 30,
    });

    const again = await agent.client.unload(name).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(AgentError);
    expect(again).toMatchObject({ status: 404, code: "not_found" });
  });

  it("reports the engine's health and its own metrics", async () => {
    expect(await agent.client.health()).toEqual({ status: "ok", engine: "ok" });
    const h = await fetch(`${agent.url}/health`);
    expect(h.status).toBe(200);
    expect(await metricValue(agent.url, "loraplex_agent_loads_total", { result: "downloaded" })).toBe(1);
    expect(await metricValue(agent.url, "loraplex_agent_download_seconds_count")).toBe(1);
    expect(await metricValue(agent.url, "loraplex_agent_engine_load_seconds_count")).toBe(2);
    expect(await metricValue(agent.url, "loraplex_agent_cache_bytes")).toBe(0);
    expect(await metricValue(agent.url, "loraplex_agent_cache_max_bytes")).toBe(10 * 2 ** 30);
  });
});
