// `loraplex router --kube` against the real test control plane: Tenants come from Tenant
// resources (informer) and the engine replicas from the pool Service's EndpointSlices in the
// system namespace, the way the controller renders them; the engine and agent are real processes.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createS3Client } from "../../core/s3.ts";
import { testKubeConfig } from "../support/kube.ts";
import { freePort, type Proc, startLoraplex } from "../support/process.ts";
import { MODEL, until, uploadAdapter } from "../support/stack.ts";
import { uniqueName } from "../support/unique.ts";

const ADMIN = "kube-mode-admin-token-0123456789abcdefgh";
const kc = testKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const slices = kc.makeApiClient(k8s.DiscoveryV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const systemNs = uniqueName("rt-system");
const tenant = uniqueName("kacme");
const tenantApi = { group: "loraplex.io", version: "v1alpha1", plural: "tenants" };
let replica: { engineUrl: string; agentUrl: string; stop(): Promise<void> };
let router: Proc;
let url: string;
let key: string;

beforeAll(async () => {
  const env = { ...process.env, KUBECONFIG: inject("kubeconfigPath") };
  execFileSync(
    inject("kubectl"),
    [
      "apply",
      "--server-side",
      "--force-conflicts",
      "--field-manager=loraplex-tests",
      "-f",
      "manifests/crds/tenants.loraplex.io.yaml",
    ],
    { env, stdio: "pipe" },
  );
  execFileSync(
    inject("kubectl"),
    ["wait", "--for=condition=Established", "--timeout=60s", "crd/tenants.loraplex.io"],
    {
      env,
      stdio: "pipe",
    },
  );
  const cfg = loadServiceConfig();
  const adapter = await uploadAdapter(createS3Client(cfg), cfg.S3_BUCKET, tenant, "support-bot", 1);
  replica = await startReplicaOn(hostAddress());
  await core.createNamespace({ body: { metadata: { name: systemNs } } });
  await core.createNamespacedService({
    namespace: systemNs,
    body: {
      metadata: { name: "shared-engine", labels: { "loraplex.io/pool": "shared" } },
      spec: {
        ports: [
          { name: "http", port: 8000 },
          { name: "agent", port: 8001 },
        ],
      },
    },
  });
  await slices.createNamespacedEndpointSlice({
    namespace: systemNs,
    body: {
      metadata: { name: "shared-engine-1", labels: { "kubernetes.io/service-name": "shared-engine" } },
      addressType: "IPv4",
      ports: [
        { name: "http", port: Number(new URL(replica.engineUrl).port), protocol: "TCP" },
        { name: "agent", port: Number(new URL(replica.agentUrl).port), protocol: "TCP" },
      ],
      endpoints: [{ addresses: [new URL(replica.engineUrl).hostname], conditions: { ready: true } }],
    },
  });
  await custom.createClusterCustomObject({
    ...tenantApi,
    body: {
      apiVersion: "loraplex.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: tenant },
      spec: {
        tier: "shared",
        models: [MODEL],
        adapters: [{ name: "support-bot", baseModel: MODEL, version: 1, source: adapter.source }],
      },
    },
  });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  router = await startLoraplex(
    [
      ...["router", "--kube", "--kubeconfig", inject("kubeconfigPath"), "--system-namespace", systemNs],
      ...["--port", String(port), "--db-schema", uniqueName("router_kube").replaceAll("-", "_")],
      ...["--health-interval-ms", "200"],
    ],
    {
      readyUrl: `${url}/readyz`,
      env: { LORAPLEX_DEV_SECRETS: "1", LORAPLEX_ADMIN_TOKEN: ADMIN },
      name: "router",
    },
  );
  // Other suites' Tenants are cluster-wide too: wait until ours is in the router's view.
  await until(async () => {
    const r = await fetch(`${url}/admin/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant }),
    });
    if (r.status === 201) key = ((await r.json()) as { key: string }).key;
    return r.status === 201;
  }, "the router to see the Tenant resource");
});

afterAll(async () => {
  await router?.stop();
  await custom.deleteClusterCustomObject({ ...tenantApi, name: tenant }).catch(() => {});
  await core.deleteNamespace({ name: systemNs }).catch(() => {});
  await replica?.stop();
});

describe("router in cluster mode", () => {
  it("serves a Tenant resource's models through replicas found in EndpointSlices", async () => {
    const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
    expect((await client.models.list()).data.map((m) => m.id).sort()).toEqual([
      MODEL,
      "support-bot",
      "support-bot@1",
    ]);
    const r = await client.chat.completions.create({
      model: "support-bot",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 3,
    });
    expect(r.model).toBe("support-bot");
    expect(r.choices[0]?.message.content).toBeTruthy();
  });

  it("locks the tenant's keys out once the Tenant resource is deleted", async () => {
    await custom.deleteClusterCustomObject({ ...tenantApi, name: tenant });
    const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
    await until(async () => {
      try {
        await client.models.list();
        return false;
      } catch (e) {
        return e instanceof OpenAI.AuthenticationError;
      }
    }, "the deleted tenant's key to be refused");
  });
});

/** The API server refuses loopback endpoint addresses, so the replica listens on a real interface. */
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  throw new Error("this test needs a non-loopback IPv4 address: EndpointSlices may not point at 127.0.0.0/8");
}

async function startReplicaOn(
  host: string,
): Promise<{ engineUrl: string; agentUrl: string; stop(): Promise<void> }> {
  const [enginePort, agentPort] = [await freePort(), await freePort()];
  const engineUrl = `http://${host}:${enginePort}`;
  const agentUrl = `http://${host}:${agentPort}`;
  const cacheDir = await mkdtemp(join(tmpdir(), "router-kube-agent-"));
  const engine = await startLoraplex(
    ["engine-sim", "--host", host, "--port", String(enginePort), "--model", MODEL, "--time-scale", "0"],
    { readyUrl: `${engineUrl}/health`, name: "engine-sim" },
  );
  const agent = await startLoraplex(
    [
      ...["agent", "--host", host, "--port", String(agentPort), "--engine-url", engineUrl],
      ...["--cache-dir", cacheDir, "--base-model", MODEL],
    ],
    { readyUrl: `${agentUrl}/health`, name: "agent" },
  ).catch(async (err) => {
    await engine.stop();
    throw err;
  });
  return {
    engineUrl,
    agentUrl,
    async stop() {
      await Promise.all([agent.stop(), engine.stop()]);
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}
