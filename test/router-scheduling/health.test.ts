// Static discovery, active health probes and passive failure detection against real engine
// simulator and agent processes.
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../agent-api/client.ts";
import { loadServiceConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createS3Client } from "../../core/s3.ts";
import { createPools, type Pools } from "../../router/scheduling/pools.ts";
import { type FleetReplica, startReplicas, until, uploadAdapter } from "../support/stack.ts";
import { uniqueName } from "../support/unique.ts";

const POOL = "loraplex-system/shared";

describe("router scheduling: static discovery and health", () => {
  const cfg = loadServiceConfig();
  const tenant = uniqueName("sched");
  let s3: S3Client;
  let fleet: FleetReplica[] = [];
  let pools: Pools;

  beforeAll(async () => {
    s3 = createS3Client(cfg);
    fleet = await startReplicas(2);
    pools = await createPools({
      static: `${POOL}=${fleet.map((r) => r.flag).join(",")}`,
      systemNamespace: "loraplex-system",
      healthIntervalMs: 100,
      logger: createLogger("test", "silent"),
    });
  });
  afterAll(async () => {
    await pools?.close();
    await Promise.all(fleet.map((r) => r.stop()));
    s3?.destroy();
  });

  const replica = (url: string) => pools.replicas().find((r) => r.engineUrl === url)!;

  it("knows every listed replica, healthy, with max_loras read from the engine's metrics", () => {
    expect(
      pools
        .replicas()
        .map((r) => [r.poolRef, r.engineUrl, r.agentUrl, r.healthy, r.maxLoras])
        .sort(),
    ).toEqual(fleet.map((f) => [POOL, f.engineUrl, f.agentUrl, true, 4]).sort());
    expect(pools.pick("loraplex-system/other", undefined)).toBeUndefined();
  });

  it("marks a killed replica unhealthy, routes around it, and takes it back once it restarts", async () => {
    const [victim, survivor] = fleet as [FleetReplica, FleetReplica];
    await victim.stopEngine();
    await until(() => !replica(victim.engineUrl).healthy, "the killed replica to be marked unhealthy");
    for (let i = 0; i < 20; i++) expect(pools.pick(POOL, undefined)?.engineUrl).toBe(survivor.engineUrl);

    await victim.startEngine();
    await until(() => replica(victim.engineUrl).healthy, "the restarted replica to recover");
    const picked = new Set<string>();
    for (let i = 0; i < 20; i++) picked.add(pools.pick(POOL, undefined)!.engineUrl);
    expect(picked.size).toBe(2);
  });

  it("skips a replica that failed a request until a probe passes again", async () => {
    const r = pools.pick(POOL, undefined)!;
    pools.markFailed(r, "connect ECONNREFUSED");
    expect(r.healthy).toBe(false);
    const other = pools.pick(POOL, undefined)!;
    expect(other.id).not.toBe(r.id);
    // The engine is in fact fine, so the next probe restores it.
    await until(() => r.healthy, "a passing probe to restore the replica");
  });

  it("takes a replica out after repeated failed requests", () => {
    const r = pools.pick(POOL, undefined)!;
    pools.requestStarted(r);
    pools.requestFinished(r, true);
    for (let i = 0; i < 3; i++) {
      pools.requestStarted(r);
      pools.requestFinished(r, false);
    }
    expect(r.healthy).toBe(false);
    expect(r.inFlight).toBe(0);
  });

  it("tracks residency from the agent's inventory, not only from its own loads", async () => {
    const adapter = await uploadAdapter(s3, cfg.S3_BUCKET, tenant, "support-bot");
    await until(() => fleet.every((f) => replica(f.engineUrl).healthy), "all replicas healthy");
    const r = pools.pick(POOL, adapter.loraName)!;
    expect(await pools.ensureAdapter(r, tenant, adapter)).toMatchObject({ loaded: "cold" });
    expect(r.resident.has(adapter.loraName)).toBe(true);
    expect(await pools.ensureAdapter(r, tenant, adapter)).toEqual({ loaded: "warm", ms: 0 });
    // The next request for it goes where it is.
    expect(pools.pick(POOL, adapter.loraName)?.id).toBe(r.id);

    // Removed behind the router's back (say, evicted by the agent): the probe notices.
    const agent = createAgentClient(r.agentUrl);
    try {
      await agent.unload(adapter.loraName);
    } finally {
      await agent.close();
    }
    await until(() => !r.resident.has(adapter.loraName), "the probe to drop the unloaded adapter");
    const again = pools.pick(POOL, adapter.loraName)!;
    expect(await pools.ensureAdapter(again, tenant, adapter)).toMatchObject({ loaded: "cold" });

    // Another router (or a human) loads one through the agent: it shows up as resident.
    const other = await uploadAdapter(s3, cfg.S3_BUCKET, tenant, "other-bot");
    const direct = createAgentClient(again.agentUrl);
    try {
      await direct.load({ tenant, adapter: other.name, version: other.version, source: other.source });
    } finally {
      await direct.close();
    }
    await until(() => again.resident.has(other.loraName), "the probe to see the adapter loaded elsewhere");
    expect(await pools.ensureAdapter(again, tenant, other)).toEqual({ loaded: "warm", ms: 0 });
  });

  it("turns agent refusals into 502 errors that say what is wrong", async () => {
    const r = pools.pick(POOL, "x")!;
    const missing = {
      name: "missing",
      version: 1,
      source: `s3://${cfg.S3_BUCKET}/tenants/${tenant}/adapters/missing/1/`,
      loraName: "unused",
    };
    await expect(pools.ensureAdapter(r, tenant, missing)).rejects.toMatchObject({ status: 502 });
    const foreign = { ...missing, source: `s3://${cfg.S3_BUCKET}/tenants/someone-else/adapters/x/1/` };
    await expect(pools.ensureAdapter(r, tenant, foreign)).rejects.toMatchObject({
      status: 502,
      message: expect.stringMatching(/rejected/),
    });
  });
});
