// The agent's neighbours failing: object storage unreachable, the engine down. Each is a clear
// 5xx naming the cause, never a crash, and the cache holds only complete adapters afterwards.
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loraName } from "../../core/storage-layout.ts";
import { freePort } from "../support/process.ts";
import { uniqueName } from "../support/unique.ts";
import {
  type Agent,
  BASE_MODEL,
  cacheContents,
  engineAdapters,
  putAdapter,
  removeDir,
  type Sim,
  s3,
  startAgent,
  startSim,
} from "./harness.ts";

describe("adapter agent: S3 and engine outages", () => {
  const tenant = uniqueName("ago");
  let s3c: S3Client;
  let sim: Sim | undefined;
  const agents: Agent[] = [];

  beforeAll(() => {
    s3c = s3();
  });
  afterAll(async () => {
    for (const a of agents) {
      await a.stop();
      await removeDir(a.cacheDir);
    }
    await sim?.proc.stop();
    s3c?.destroy();
  });

  it("S3 unreachable: 503 s3_unavailable, nothing cached", async () => {
    sim = await startSim();
    const closed = await freePort();
    const agent = await startAgent({
      engineUrl: sim.url,
      env: { S3_ENDPOINT: `http://127.0.0.1:${closed}` },
    });
    agents.push(agent);
    const a = await putAdapter(s3c, tenant, "offline", 1);
    const err = await agent.client
      .load({ tenant, adapter: "offline", version: 1, source: a.source })
      .catch((e) => e);
    expect(err).toMatchObject({ status: 503, code: "s3_unavailable" });
    expect(err.message).toMatch(/object storage is unreachable.*ECONNREFUSED/);
    expect(await cacheContents(agent.cacheDir)).toEqual({ entries: [], temp: [] });
    expect(await engineAdapters(sim.url)).toEqual([]);
    expect(agent.proc.child.exitCode).toBeNull();
    await sim.proc.stop();
    sim = undefined;
  });

  it("engine down and base model unknown: 503 engine_unavailable before any download", async () => {
    const enginePort = await freePort();
    const agent = await startAgent({ engineUrl: `http://127.0.0.1:${enginePort}`, waitHealthy: false });
    agents.push(agent);
    const a = await putAdapter(s3c, tenant, "no-engine", 1);
    const err = await agent.client
      .load({ tenant, adapter: "no-engine", version: 1, source: a.source })
      .catch((e) => e);
    expect(err).toMatchObject({ status: 503, code: "engine_unavailable" });
    expect(err.message).toMatch(/engine at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    expect(await cacheContents(agent.cacheDir)).toEqual({ entries: [], temp: [] });
  });

  it("engine down: health says so, the load fails with 503, and succeeds from disk once it is back", async () => {
    const enginePort = await freePort();
    const engineUrl = `http://127.0.0.1:${enginePort}`;
    const agent = await startAgent({ engineUrl, waitHealthy: false, args: ["--base-model", BASE_MODEL] });
    agents.push(agent);

    const health = await fetch(`${agent.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({
      status: "unavailable",
      engine: "unavailable",
      reason: /unreachable/,
    });

    const a = await putAdapter(s3c, tenant, "retry-me", 1);
    const req = { tenant, adapter: "retry-me", version: 1, source: a.source };
    const err = await agent.client.load(req).catch((e) => e);
    expect(err).toMatchObject({ status: 503, code: "engine_unavailable" });
    // The verified download is kept (complete, never half-written) and reported as not loaded.
    const name = loraName(tenant, "retry-me", 1);
    expect(await cacheContents(agent.cacheDir)).toEqual({ entries: [name], temp: [] });
    expect((await agent.client.list()).adapters).toMatchObject([{ lora_name: name, loaded: false }]);

    sim = await startSim({ port: enginePort });
    expect(await agent.client.health()).toEqual({ status: "ok", engine: "ok" });
    const r = await agent.client.load(req);
    expect(r).toMatchObject({ lora_name: name, cached: true, already_loaded: false, download_ms: 0 });
    expect(await engineAdapters(engineUrl)).toEqual([name]);
  });
});
