// Deleting a Tenant also purges its adapters from the shared engines: the controller finds every
// adapter agent of the system namespace through the engine Services' EndpointSlices (ready or
// not) and has each erase the tenant's adapters from its engine and disk. Another tenant's
// adapters on the same agents stay; an agent that cannot be reached keeps the Tenant (finalizer,
// Degraded) until a retry reaches every agent.
import type { S3Client } from "@aws-sdk/client-s3";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentClient } from "../../agent-api/client.ts";
import { loadServiceConfig } from "../../core/config.ts";
import { createS3Client } from "../../core/s3.ts";
import { loraName } from "../../core/storage-layout.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import { freePort } from "../support/process.ts";
import { type FleetReplica, startReplicas, uploadAdapter } from "../support/stack.ts";
import { type ControllerEnv, condition, isReady, setupControllerEnv } from "./harness.ts";
import { waitFor } from "./harness-cluster.ts";

const MODEL = "llama-3.1-8b-instruct";
const SERVICE = "purge-engine";
const cfg = loadServiceConfig();
let env: ControllerEnv;
let s3: S3Client;
let replicas: FleetReplica[] = [];

const port = (url: string) => Number(new URL(url).port);

/**
 * One slice per agent: the API server refuses loopback IPs in IPv4 slices and tests may only reach
 * loopback, so the slice is FQDN with the dotted name 127.0.0.1 (as the router's discovery test).
 */
function slice(
  name: string,
  engineUrl: string,
  agentUrl: string,
  ready: boolean,
): KubeObject & V1EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: env.systemNamespace, labels: { "kubernetes.io/service-name": SERVICE } },
    addressType: "FQDN",
    ports: [
      { name: "http", port: port(engineUrl), protocol: "TCP" },
      { name: "agent", port: port(agentUrl), protocol: "TCP" },
    ],
    endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready } }],
  };
}

beforeAll(async () => {
  env = await setupControllerEnv("ctl-purge");
  s3 = createS3Client(cfg);
  replicas = await startReplicas(2);
  // A Service without selector: the test owns its slices, as the endpointslice controller would.
  await env.admin.create(R.services, {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: SERVICE, namespace: env.systemNamespace },
    spec: {
      ports: [
        { name: "http", port: 8000, protocol: "TCP" },
        { name: "agent", port: 8001, protocol: "TCP" },
      ],
    },
  });
  // The second replica is not ready (as while its engine restarts): its disk still holds adapters.
  for (const [i, r] of replicas.entries()) {
    await env.admin.create(R.endpointSlices, slice(`${SERVICE}-${i}`, r.engineUrl, r.agentUrl, i === 0));
  }
  await env.startController();
}, 180_000);
afterAll(async () => {
  await env?.teardown();
  await Promise.all(replicas.map((r) => r.stop()));
  s3?.destroy();
});

async function loadOn(r: FleetReplica, tenant: string, adapter: string): Promise<void> {
  const a = await uploadAdapter(s3, cfg.S3_BUCKET, tenant, adapter);
  const agent = createAgentClient(r.agentUrl);
  try {
    await agent.load({ tenant, adapter, version: 1, source: a.source });
  } finally {
    await agent.close();
  }
}

async function inventory(r: FleetReplica): Promise<string[]> {
  const agent = createAgentClient(r.agentUrl);
  try {
    return (await agent.list()).adapters.map((a) => a.lora_name).sort();
  } finally {
    await agent.close();
  }
}

async function engineModels(r: FleetReplica): Promise<string[]> {
  const body = (await (await fetch(`${r.engineUrl}/v1/models`)).json()) as { data: { id: string }[] };
  return body.data.map((m) => m.id).sort();
}

async function erasedEvent(name: string): Promise<string | undefined> {
  const list = await env.admin.list<KubeObject & { reason?: string; message?: string }>(R.events, {
    namespace: "default",
    fieldSelector: `involvedObject.name=${name},involvedObject.kind=Tenant`,
  });
  return list.items.find((e) => e.reason === "Erased")?.message;
}

describe("tenant deletion purges the shared engines' adapter caches", () => {
  it("erases the tenant's adapters from every shared agent and leaves another tenant's alone", async () => {
    const [a, b] = replicas as [FleetReplica, FleetReplica];
    const leaving = env.tenantName("purge-leaving");
    const staying = env.tenantName("purge-staying");
    await env.createTenant(leaving, { tier: "shared", models: [MODEL] });
    await env.createTenant(staying, { tier: "shared", models: [MODEL] });
    await env.waitTenant(leaving, "Ready", isReady);
    await loadOn(a, leaving, "bot");
    await loadOn(a, leaving, "summarizer");
    await loadOn(b, leaving, "bot");
    await loadOn(a, staying, "bot");
    await loadOn(b, staying, "bot");
    const before = { a: await inventory(a), b: await inventory(b) };
    expect(before.a).toHaveLength(3);
    expect(before.b).toHaveLength(2);

    await env.admin.delete(R.tenants, leaving);
    await waitFor("tenant gone", async () => (await env.getTenant(leaving)) === undefined, 90_000);

    const survivor = loraName(staying, "bot", 1);
    for (const r of [a, b]) {
      expect(await inventory(r)).toEqual([survivor]);
      // The engine itself no longer serves the erased adapters; the other tenant's one remains.
      const models = await engineModels(r);
      expect(models.some((m) => m.startsWith(`${leaving}--`))).toBe(false);
      expect(models).toContain(survivor);
    }
    expect(await erasedEvent(leaving)).toContain("3 adapter(s) purged from 2 shared agent(s)");
    // The other tenant is untouched by the deletion.
    expect(condition(await env.getTenant(staying), "Ready")?.status).toBe("True");
  }, 180_000);

  it("keeps the Tenant Degraded while an agent cannot be reached, and finishes once it can", async () => {
    const [a] = replicas as [FleetReplica, FleetReplica];
    const name = env.tenantName("purge-stuck");
    await env.createTenant(name, { tier: "shared", models: [MODEL] });
    await env.waitTenant(name, "Ready", isReady);
    await loadOn(a, name, "bot");
    // An agent that is listed but does not answer (nothing listens on that port).
    const dead = `http://127.0.0.1:${await freePort()}`;
    await env.admin.create(R.endpointSlices, slice(`${SERVICE}-dead`, dead, dead, true));

    await env.admin.delete(R.tenants, name);
    const stuck = await waitFor("Degraded ErasureFailed", async () => {
      const t = await env.getTenant(name);
      return condition(t, "Degraded")?.reason === "ErasureFailed" ? t : undefined;
    });
    // What was erased before the failure is said, and the unreachable agent is named.
    const message = condition(stuck, "Degraded")?.message;
    expect(message).toContain("purged 1 adapter(s) from 2 of 3 shared agent(s)");
    expect(message).toContain(`${dead}: adapter agent at ${dead} is unreachable`);
    expect(stuck.metadata.finalizers).toContain("loraplex.io/erasure");

    // The Pod behind the dead endpoint goes away: the next retry reaches every remaining agent.
    await env.admin.delete(R.endpointSlices, `${SERVICE}-dead`, env.systemNamespace);
    await waitFor(
      "tenant erased after the retry",
      async () => (await env.getTenant(name)) === undefined,
      120_000,
    );
    expect(await inventory(a)).not.toContain(loraName(name, "bot", 1));
    // The retry asks every agent again; the one that already purged has nothing left.
    expect(await erasedEvent(name)).toContain("0 adapter(s) purged from 2 shared agent(s)");
  }, 240_000);
});
