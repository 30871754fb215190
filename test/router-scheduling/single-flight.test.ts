// Cold adapter loads are shared: within one router process and across router processes (two
// Pools instances sharing the real Redis stand in for two router replicas).
import type { S3Client } from "@aws-sdk/client-s3";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createRedis } from "../../core/redis.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import { createS3Client } from "../../core/s3.ts";
import { createPools, type Pools } from "../../router/scheduling/pools.ts";
import {
  agentLoadCalls,
  type FleetReplica,
  scrapeCounter,
  startReplica,
  uploadAdapter,
} from "../support/stack.ts";
import { uniqueName } from "../support/unique.ts";

const POOL = "loraplex-system/shared";

describe("router scheduling: single-flight cold loads", () => {
  const cfg = loadServiceConfig();
  const tenant = uniqueName("flight");
  const keyPrefix = `${uniqueName("test-load-lock")}:`;
  let s3: S3Client;
  let redis: Redis;
  let replica: FleetReplica;
  let routerA: Pools;
  let routerB: Pools;

  beforeAll(async () => {
    s3 = createS3Client(cfg);
    redis = createRedis(cfg);
    replica = await startReplica();
    const opts = {
      static: `${POOL}=${replica.flag}`,
      systemNamespace: "loraplex-system",
      healthIntervalMs: 200,
      redis,
      keys: createKeySpace({ prefix: keyPrefix }),
      logger: createLogger("test", "silent"),
    };
    [routerA, routerB] = await Promise.all([createPools(opts), createPools(opts)]);
  });
  afterAll(async () => {
    await Promise.all([routerA?.close(), routerB?.close()]);
    await replica?.stop();
    redis?.disconnect();
    s3?.destroy();
  });

  const engineLoads = () =>
    scrapeCounter(replica.engineUrl, "loraplex_sim_lora_api_requests_total", 'operation="load",status="200"');

  it("50 concurrent requests for a cold adapter in one router make one agent load call", async () => {
    const adapter = await uploadAdapter(s3, cfg.S3_BUCKET, tenant, "one-router");
    const [callsBefore, loadsBefore] = [await agentLoadCalls(replica.agentUrl), await engineLoads()];
    const results = await Promise.all(
      Array.from({ length: 50 }, () => {
        const r = routerA.pick(POOL, adapter.loraName)!;
        return routerA.ensureAdapter(r, tenant, adapter);
      }),
    );
    expect(results.every((r) => r.loaded === "cold")).toBe(true);
    expect((await agentLoadCalls(replica.agentUrl)) - callsBefore).toBe(1);
    expect((await engineLoads()) - loadsBefore).toBe(1);

    // Warm now: no call at all.
    const r = routerA.pick(POOL, adapter.loraName)!;
    expect(await routerA.ensureAdapter(r, tenant, adapter)).toEqual({ loaded: "warm", ms: 0 });
    expect((await agentLoadCalls(replica.agentUrl)) - callsBefore).toBe(1);
  });

  it("50 concurrent requests split over two routers sharing Redis still make one load call", async () => {
    const adapter = await uploadAdapter(s3, cfg.S3_BUCKET, tenant, "two-routers");
    const [callsBefore, loadsBefore] = [await agentLoadCalls(replica.agentUrl), await engineLoads()];
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const router = i % 2 === 0 ? routerA : routerB;
        const r = router.pick(POOL, adapter.loraName)!;
        return router.ensureAdapter(r, tenant, adapter);
      }),
    );
    expect(results.every((r) => r.loaded === "cold")).toBe(true);
    expect((await agentLoadCalls(replica.agentUrl)) - callsBefore).toBe(1);
    expect((await engineLoads()) - loadsBefore).toBe(1);
    // Both routers now know it is resident, and the lock is gone.
    for (const router of [routerA, routerB]) {
      expect(router.replicas()[0]!.resident.has(adapter.loraName)).toBe(true);
    }
    expect(await redis.keys(`${keyPrefix}*`)).toEqual([]);
  });

  it("a failed load fails every waiter once, and the next request tries again", async () => {
    const ghost = {
      name: "ghost",
      version: 1,
      source: `s3://${cfg.S3_BUCKET}/tenants/${tenant}/adapters/ghost/1/`,
      loraName: "unused",
    };
    const callsBefore = await agentLoadCalls(replica.agentUrl);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => {
        const router = i % 2 === 0 ? routerA : routerB;
        return router.ensureAdapter(router.replicas()[0]!, tenant, ghost);
      }),
    );
    expect(
      results.every((r) => r.status === "rejected" && (r.reason as { status: number }).status === 502),
    ).toBe(true);
    // One call from the lock holder; the other router re-checks the inventory and retries once.
    expect((await agentLoadCalls(replica.agentUrl)) - callsBefore).toBeLessThanOrEqual(2);
    await expect(routerA.ensureAdapter(routerA.replicas()[0]!, tenant, ghost)).rejects.toMatchObject({
      status: 502,
    });
    expect(await redis.keys(`${keyPrefix}*`)).toEqual([]);
  });
});
