// The Tenant and ModelPool reconcile paths on the test control plane, with the controller as a
// real process under a token bound to exactly the shipped ClusterRole.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenantNamespace } from "../../core/cluster-layout.ts";
import { createKubeClient, type KubeClient } from "../../kube/client.ts";
import { loadKubeConfig } from "../../kube/config.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import {
  type Controller,
  type ControllerEnv,
  condition,
  isReady,
  metricValue,
  setupControllerEnv,
  writesByResource,
} from "./harness.ts";
import { waitFor } from "./harness-cluster.ts";

const MODEL = "llama-3.1-8b-instruct";
// biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary Kubernetes objects
type Loose = any;
type Obj = KubeObject & { spec?: Loose; status?: Loose; [key: string]: Loose };

let env: ControllerEnv;
let controller: Controller;
let admin: KubeClient;

beforeAll(async () => {
  env = await setupControllerEnv("ctl-rec");
  admin = env.admin;
  controller = await env.startController();
});
afterAll(async () => {
  await env?.teardown();
});

const get = (rt: (typeof R)[keyof typeof R], name: string, ns?: string) => admin.get<Obj>(rt, name, ns);

describe("shared tier", () => {
  it("validates, adds the erasure finalizer and publishes Ready with the shared pool", async () => {
    const name = env.tenantName("shr");
    await env.createTenant(name, {
      tier: "shared",
      models: [MODEL],
      adapters: [
        {
          name: "bot",
          baseModel: MODEL,
          source: `s3://loraplex/tenants/${name}/adapters/bot/1/`,
          version: 1,
        },
      ],
    });
    const t = await env.waitTenant(name, "Ready", isReady);
    expect(t.metadata.finalizers).toContain("loraplex.io/erasure");
    expect(t.status).toMatchObject({
      tier: "shared",
      pool: `${env.systemNamespace}/shared`,
      endpoint: `http://shared-engine.${env.systemNamespace}.svc:8000`,
      adaptersReady: 1,
      adapters: [{ name: "bot", version: 1, ready: true }],
    });
    expect(t.status?.namespace).toBeUndefined();
    expect(condition(t, "Ready")).toMatchObject({
      reason: "Reconciled",
      observedGeneration: t.metadata.generation,
    });
    expect(condition(t, "Degraded")).toMatchObject({ status: "False" });
    expect(await get(R.namespaces, tenantNamespace(name))).toBeUndefined();
  }, 120_000);

  it("is not Ready while its pool does not exist, and becomes Ready when the pool appears", async () => {
    const name = env.tenantName("shr-nopool");
    await env.createTenant(name, { tier: "shared", pool: "big", models: [MODEL] });
    const t = await env.waitTenant(
      name,
      "PoolNotFound",
      (x) => condition(x, "Ready")?.reason === "PoolNotFound",
    );
    expect(condition(t, "Ready")?.message).toContain(`ModelPool ${env.systemNamespace}/big does not exist`);
    await admin.create(R.modelPools, {
      apiVersion: "loraplex.io/v1alpha1",
      kind: "ModelPool",
      metadata: { name: "big", namespace: env.systemNamespace },
      spec: { model: MODEL, replicas: 0 },
    });
    await env.waitTenant(name, "Ready once the pool exists", isReady);
  }, 120_000);

  it("renders the shared ModelPool into Deployment, Service and PodDisruptionBudget", async () => {
    const ns = env.systemNamespace;
    const svc = await waitFor("shared-engine Service", () => get(R.services, "shared-engine", ns));
    expect(svc.metadata.labels?.["loraplex.io/pool"]).toBe("shared");
    expect(await waitFor("Deployment", () => get(R.deployments, "shared-engine", ns))).toBeDefined();
    expect(await waitFor("PDB", () => get(R.podDisruptionBudgets, "shared-engine", ns))).toBeDefined();
    const mp = await waitFor("pool status", async () => {
      const p = await get(R.modelPools, "shared", ns);
      return p?.status?.service ? p : undefined;
    });
    expect(mp.status).toMatchObject({ service: "shared-engine", readyReplicas: 0, engine: "vllm" });
    // No node in the vitest control plane: pods stay Pending, so the pool is not Ready.
    expect(condition(mp, "Ready")).toMatchObject({ status: "False", reason: "ReplicasNotReady" });
  }, 120_000);

  it("runs the engine simulator from the Loraplex image, without GPUs, when spec.engine says so", async () => {
    const ns = env.systemNamespace;
    await admin.create(R.modelPools, {
      apiVersion: "loraplex.io/v1alpha1",
      kind: "ModelPool",
      metadata: { name: "sim", namespace: ns },
      spec: { model: MODEL, engine: "simulator", replicas: 0, gpusPerReplica: 1 },
    });
    const d = await waitFor("sim-engine Deployment", () => get(R.deployments, "sim-engine", ns));
    const pod = (d as Loose).spec.template.spec;
    const [engine, agent] = pod.containers;
    expect(engine?.name).toBe("engine-sim");
    expect(engine?.image).toBe(agent?.image);
    expect(engine?.args.slice(0, 7)).toEqual([
      "engine-sim",
      "--host",
      "0.0.0.0",
      "--port",
      "8000",
      "--model",
      MODEL,
    ]);
    expect(JSON.stringify(engine?.resources)).not.toContain("gpu");
    const mp = await waitFor("sim status", async () => {
      const p = await get(R.modelPools, "sim", ns);
      return p?.status?.engine ? p : undefined;
    });
    expect(mp.status?.engine).toBe("simulator");
  }, 120_000);
});

describe("dedicated tier", () => {
  let name: string;
  let ns: string;

  beforeAll(async () => {
    name = env.tenantName("ded");
    ns = tenantNamespace(name);
    await env.createTenant(name, {
      tier: "dedicated",
      models: [MODEL],
      owners: [
        { kind: "Group", name: `${name}-admins` },
        { kind: "User", name: "alice@example.com" },
        { kind: "ServiceAccount", name: "deployer", namespace: "ci" },
      ],
      dedicated: {
        replicas: 2,
        gpusPerReplica: 2,
        maxLoras: 4,
        maxLoraRank: 32,
        maxCpuLoras: 16,
        resources: { cpu: "6", memory: "24Gi" },
        nodeSelector: { "gpu-pool": name },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      },
    });
    await env.waitTenant(name, "Ready", isReady);
  });

  it("creates the namespace with tenant and Pod Security labels", async () => {
    const n = await get(R.namespaces, ns);
    expect(n?.metadata.labels).toMatchObject({
      "loraplex.io/tenant": name,
      "app.kubernetes.io/managed-by": "loraplex-controller",
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/warn": "restricted",
    });
    expect(n?.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Tenant", name, controller: true });
    const t = await env.getTenant(name);
    expect(t?.status).toMatchObject({
      tier: "dedicated",
      namespace: ns,
      pool: `${ns}/engine`,
      engineReplicas: 2,
      engineReadyReplicas: 0,
    });
    expect(condition(t, "Progressing")).toMatchObject({ status: "True", reason: "EngineStarting" });
  });

  it("sets a ResourceQuota for the engine's GPUs, CPU and memory, and a LimitRange", async () => {
    const q = await get(R.resourceQuotas, "tenant-quota", ns);
    // 2 replicas x (vLLM 6 CPU / 24Gi + agent 250m / 512Mi), 2 GPUs each
    expect(q?.spec.hard).toMatchObject({
      "requests.nvidia.com/gpu": "4",
      "requests.cpu": "12500m",
      "requests.memory": "49Gi",
      pods: "4",
      "services.loadbalancers": "0",
    });
    const lr = await get(R.limitRanges, "tenant-limits", ns);
    // `default` (like a NetworkPolicy rule's `from`) is a field the client library's typed models
    // rename; the controller's client sends JSON as is, so it must arrive.
    expect(lr?.spec.limits[0]).toMatchObject({
      type: "Container",
      default: { memory: "512Mi" },
      defaultRequest: { cpu: "100m" },
    });
  });

  it("denies traffic by default and admits only the router to engine ports", async () => {
    const deny = await get(R.networkPolicies, "default-deny", ns);
    expect(deny?.spec).toMatchObject({ policyTypes: ["Ingress", "Egress"] });
    const ingress = await get(R.networkPolicies, "allow-router-to-engine", ns);
    expect(ingress?.spec.ingress[0].from[0]).toMatchObject({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": env.systemNamespace } },
      podSelector: { matchLabels: { "app.kubernetes.io/name": "loraplex-router" } },
    });
    expect(ingress?.spec.ingress[0].ports.map((p: { port: number }) => p.port)).toEqual([8000, 8001]);
    const egress = await get(R.networkPolicies, "allow-dns-and-storage-egress", ns);
    expect(egress?.spec.egress[0].ports).toContainEqual({ protocol: "UDP", port: 53 });
    // S3_ENDPOINT is 127.0.0.1:29000 in tests: egress to exactly that address and port.
    expect(egress?.spec.egress[1]).toMatchObject({
      to: [{ ipBlock: { cidr: "127.0.0.1/32" } }],
      ports: [{ port: 29000 }],
    });
  });

  it("binds the owners to the owner ClusterRole in the namespace and gives engines a tokenless ServiceAccount", async () => {
    const rb = await get(R.roleBindings, "tenant-owners", ns);
    expect(rb?.roleRef).toMatchObject({ kind: "ClusterRole", name: "loraplex-tenant-owner" });
    expect(rb?.subjects).toEqual([
      { kind: "Group", name: `${name}-admins`, apiGroup: "rbac.authorization.k8s.io" },
      { kind: "User", name: "alice@example.com", apiGroup: "rbac.authorization.k8s.io" },
      { kind: "ServiceAccount", name: "deployer", namespace: "ci" },
    ]);
    const sa = await get(R.serviceAccounts, "engine", ns);
    expect(sa?.automountServiceAccountToken).toBe(false);
  });

  it("renders its ModelPool into a vLLM Deployment with the adapter agent, a Service and a PDB", async () => {
    const mp = await get(R.modelPools, "engine", ns);
    expect(mp?.spec).toMatchObject({ model: MODEL, replicas: 2, gpusPerReplica: 2, maxLoras: 4 });
    const dep = await waitFor("engine Deployment", () => get(R.deployments, "engine-engine", ns));
    const pod = dep.spec.template.spec;
    const vllm = pod.containers.find((c: { name: string }) => c.name === "vllm");
    const agent = pod.containers.find((c: { name: string }) => c.name === "agent");
    expect(vllm.args).toEqual(
      expect.arrayContaining([
        "--enable-lora",
        "--max-loras",
        "4",
        "--max-lora-rank",
        "32",
        "--max-cpu-loras",
        "16",
      ]),
    );
    expect(vllm.env).toContainEqual({ name: "VLLM_ALLOW_RUNTIME_LORA_UPDATING", value: "True" });
    expect(vllm.readinessProbe.httpGet.path).toBe("/health");
    expect(vllm.livenessProbe.httpGet.path).toBe("/health");
    expect(vllm.resources.limits["nvidia.com/gpu"]).toBe("2");
    expect(agent.args).toEqual(
      expect.arrayContaining(["agent", "--cache-dir", "/adapters", "--base-model", MODEL]),
    );
    // The agent writes adapters where vLLM reads them: one emptyDir mounted in both.
    const mountOf = (c: { volumeMounts: { name: string; mountPath: string }[] }) =>
      c.volumeMounts.find((m) => m.name === "adapters")?.mountPath;
    expect(mountOf(vllm)).toBe("/adapters");
    expect(mountOf(agent)).toBe("/adapters");
    expect(pod.volumes.find((v: { name: string }) => v.name === "adapters").emptyDir).toBeDefined();
    expect(pod.serviceAccountName).toBe("engine");
    expect(pod.nodeSelector).toEqual({ "gpu-pool": name });
    expect(agent.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });

    const svc = await waitFor("engine Service", () => get(R.services, "engine-engine", ns));
    expect(svc.metadata.labels?.["loraplex.io/pool"]).toBe("engine");
    expect(svc.spec.ports.map((p: { name: string; port: number }) => [p.name, p.port])).toEqual([
      ["http", 8000],
      ["agent", 8001],
    ]);
    const pdb = await waitFor("PDB", () => get(R.podDisruptionBudgets, "engine-engine", ns));
    expect(pdb.spec.maxUnavailable).toBe(1);
  });

  it("repairs drift: a deleted NetworkPolicy and an edited quota come back", async () => {
    await admin.delete(R.networkPolicies, "default-deny", ns);
    await admin.jsonPatch(R.resourceQuotas, "tenant-quota", ns, [
      { op: "replace", path: "/spec/hard/requests.nvidia.com~1gpu", value: "64" },
    ]);
    await waitFor("default-deny recreated", () => get(R.networkPolicies, "default-deny", ns));
    await waitFor("quota restored", async () => {
      const q = await get(R.resourceQuotas, "tenant-quota", ns);
      return q?.spec.hard["requests.nvidia.com/gpu"] === "4";
    });
    await admin.delete(R.services, "engine-engine", ns);
    await waitFor("engine Service recreated", () => get(R.services, "engine-engine", ns));
  }, 120_000);
});

describe("tier changes", () => {
  it("moves a tenant shared → dedicated → shared, leaving no dedicated objects behind", async () => {
    const name = env.tenantName("tier");
    const ns = tenantNamespace(name);
    await env.createTenant(name, { tier: "shared", models: [MODEL] });
    await env.waitTenant(name, "Ready (shared)", (t) => isReady(t) && t.status?.tier === "shared");

    await admin.jsonPatch(R.tenants, name, undefined, [
      { op: "replace", path: "/spec/tier", value: "dedicated" },
      { op: "add", path: "/spec/dedicated", value: { replicas: 1, gpusPerReplica: 1 } },
    ]);
    await env.waitTenant(name, "Ready (dedicated)", (t) => isReady(t) && t.status?.namespace === ns);
    await waitFor("engine Deployment", () => get(R.deployments, "engine-engine", ns));

    await admin.jsonPatch(R.tenants, name, undefined, [
      { op: "replace", path: "/spec/tier", value: "shared" },
      { op: "remove", path: "/spec/dedicated" },
    ]);
    await waitFor(
      "dedicated namespace gone",
      async () => (await get(R.namespaces, ns)) === undefined,
      90_000,
    );
    // Ready stays True while the namespace goes; Progressing turns False once it is gone.
    const t = await env.waitTenant(
      name,
      "Ready (shared again) and no longer progressing",
      (x) => isReady(x) && x.status?.tier === "shared" && condition(x, "Progressing")?.status === "False",
    );
    expect(t.status?.namespace).toBeUndefined();
    expect(t.status?.pool).toBe(`${env.systemNamespace}/shared`);
    expect(condition(t, "Progressing")?.status).toBe("False");
  }, 180_000);
});

describe("steady state", () => {
  it("makes zero writes once converged, even when a fresh process reconciles every object again", async () => {
    // Let everything the earlier tests started settle (status updates, namespace deletions).
    const tenantsNow = async () =>
      (await admin.list<Obj>(R.tenants, { labelSelector: `loraplex.io/test-run=${env.id}` })).items;
    const settled = (t: Obj) =>
      t.status?.observedGeneration === t.metadata.generation &&
      (condition(t, "Progressing")?.status !== "True" ||
        condition(t, "Progressing")?.reason === "EngineStarting");
    await waitFor("all tenants settled", async () => (await tenantsNow()).every(settled), 90_000);
    await new Promise((r) => setTimeout(r, 2000));
    const rvBefore = new Map((await tenantsNow()).map((t) => [t.metadata.name, t.metadata.resourceVersion]));

    // A fresh controller process starts with empty caches and reconciles every object from scratch.
    await controller.stop();
    const fresh = await env.startController();
    await waitFor("every tenant reconciled by the new leader", async () => {
      const n = metricValue(await fresh.metrics(), "loraplex_controller_reconcile_total", {
        kind: "Tenant",
        result: "success",
      });
      return n >= rvBefore.size;
    });
    // ...and Kubernetes' own controllers keep updating statuses (Deployments, quotas) meanwhile.
    await new Promise((r) => setTimeout(r, 3000));
    const m = await fresh.metrics();
    const { leases, ...others } = writesByResource(m);
    expect(others).toEqual({});
    expect(leases).toBeGreaterThan(0); // leader election renews; nothing else is written
    expect(
      metricValue(m, "loraplex_controller_apply_skipped_total", { resource: "networkpolicies" }),
    ).toBeGreaterThan(0);
    const after = await tenantsNow();
    for (const t of after) expect(t.metadata.resourceVersion).toBe(rvBefore.get(t.metadata.name));
    controller = fresh;
  }, 180_000);
});

describe("least privilege", () => {
  it("runs under a token that can do what the controller does and nothing more", async () => {
    // Every test above ran the controller with this token; here, what it must not be able to do.
    const sa = createKubeClient(loadKubeConfig({ kubeconfigPath: env.controllerKubeconfig }), {
      fieldManager: "loraplex-test",
    });
    const review = {
      group: "authorization.k8s.io",
      version: "v1",
      plural: "selfsubjectaccessreviews",
      kind: "SelfSubjectAccessReview",
      namespaced: false,
    };
    const can = async (verb: string, group: string, resource: string, name?: string) => {
      const r = await sa.create<Obj>(review, {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        metadata: {},
        spec: { resourceAttributes: { verb, group, resource, name, namespace: "some-tenant-ns" } },
      });
      return r.status.allowed as boolean;
    };
    expect(await can("patch", "apps", "deployments")).toBe(true);
    expect(await can("patch", "networking.k8s.io", "networkpolicies")).toBe(true);
    expect(await can("delete", "apps", "deployments")).toBe(false);
    expect(await can("get", "", "secrets")).toBe(false);
    expect(await can("create", "", "pods")).toBe(false);
    expect(await can("update", "loraplex.io", "tenants")).toBe(false);
    expect(await can("delete", "loraplex.io", "tenants")).toBe(false);
    expect(await can("bind", "rbac.authorization.k8s.io", "clusterroles", "cluster-admin")).toBe(false);
    expect(await can("escalate", "rbac.authorization.k8s.io", "clusterroles")).toBe(false);
    expect(await can("update", "coordination.k8s.io", "leases")).toBe(false); // only in its own namespace
  });
});
