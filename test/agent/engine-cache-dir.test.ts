// --engine-cache-dir: the engine container may mount the shared volume at another path than
// the agent's; the agent must hand the engine paths as the engine sees them.
import { mkdtemp, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loraName } from "../../core/storage-layout.ts";
import { uniqueName } from "../support/unique.ts";
import { type Agent, putAdapter, removeDir, type Sim, s3, startAgent, startSim } from "./harness.ts";

describe("adapter agent: --engine-cache-dir", () => {
  const tenant = uniqueName("agm");
  let s3c: S3Client;
  let sim: Sim;
  let agent: Agent;
  let root: string;

  beforeAll(async () => {
    s3c = s3();
    root = await mkdtemp(join(tmpdir(), "agent-mounts-"));
    await symlink(join(root, "agent-view"), join(root, "engine-view"));
    sim = await startSim();
    agent = await startAgent({
      engineUrl: sim.url,
      cacheDir: join(root, "agent-view"),
      args: ["--engine-cache-dir", join(root, "engine-view")],
    });
  });
  afterAll(async () => {
    await agent?.stop();
    await sim?.proc.stop();
    s3c?.destroy();
    if (root) await removeDir(root);
  });

  it("registers the adapter under the engine's view of the cache folder", async () => {
    const a = await putAdapter(s3c, tenant, "mounted", 1);
    const r = await agent.client.load({ tenant, adapter: "mounted", version: 1, source: a.source });
    const name = loraName(tenant, "mounted", 1);
    expect(r).toMatchObject({ lora_name: name, cached: false });
    const models = (await (await fetch(`${sim.url}/v1/models`)).json()) as {
      data: { id: string; root: string }[];
    };
    expect(models.data.find((m) => m.id === name)?.root).toBe(join(root, "engine-view", name));
  });
});
