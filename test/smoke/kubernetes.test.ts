import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, isNotFound, testKubeConfig } from "../support/kube.ts";
import { uniqueName } from "../support/unique.ts";

// Proves the test control plane is a real kube-apiserver with a working controller manager,
// driven through the same client production uses.
describe("Kubernetes test control plane (real kube-apiserver through @kubernetes/client-node)", () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const ns = uniqueName("smoke");
  const group = `${uniqueName("smoke")}.loraplex.io`;
  const crdName = `widgets.${group}`;

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });
  afterAll(async () => {
    await ext.deleteCustomResourceDefinition({ name: crdName }).catch(() => {});
    await core.deleteNamespace({ name: ns }).catch(() => {});
  });

  it("installs a CRD, creates a custom object and patches its /status", async () => {
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: crdName },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "widgets", singular: "widget", kind: "Widget" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: {
                    spec: { type: "object", properties: { size: { type: "integer" } } },
                    status: { type: "object", properties: { phase: { type: "string" } } },
                  },
                },
              },
            },
          ],
        },
      },
    });
    await eventually(async () => {
      const crd = await ext.readCustomResourceDefinition({ name: crdName });
      return (
        crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") || undefined
      );
    }, "CRD established");

    const ref = { group, version: "v1", namespace: ns, plural: "widgets" };
    await custom.createNamespacedCustomObject({
      ...ref,
      body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w1" }, spec: { size: 3 } },
    });
    await custom.patchNamespacedCustomObjectStatus(
      { ...ref, name: "w1", body: { status: { phase: "Ready" } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    const got = (await custom.getNamespacedCustomObject({ ...ref, name: "w1" })) as {
      spec: { size: number };
      status: { phase: string };
    };
    expect(got.spec.size).toBe(3);
    expect(got.status.phase).toBe("Ready");
  });

  it("server-side applies a ConfigMap with a field manager", async () => {
    const cm: k8s.V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "applied", namespace: ns },
      data: { a: "1" },
    };
    const first = await objects.patch(
      cm,
      undefined,
      undefined,
      "loraplex-smoke",
      true,
      k8s.PatchStrategy.ServerSideApply,
    );
    const again = await objects.patch(
      cm,
      undefined,
      undefined,
      "loraplex-smoke",
      true,
      k8s.PatchStrategy.ServerSideApply,
    );
    expect(again.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion); // no-op apply writes nothing
    expect(first.metadata?.managedFields?.map((f) => f.manager)).toContain("loraplex-smoke");
  });

  it("garbage-collects an owned ConfigMap when its owner is deleted", async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "owner" } },
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: "owned",
          ownerReferences: [
            { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata!.uid! },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: "owner", namespace: ns });
    await eventually(async () => {
      try {
        await core.readNamespacedConfigMap({ name: "owned", namespace: ns });
        return undefined;
      } catch (e) {
        if (isNotFound(e)) return true;
        throw e;
      }
    }, "owned ConfigMap garbage-collected");
  });

  it("runs the Deployment → ReplicaSet → Pod chain (Pods stay Pending without a kubelet)", async () => {
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "c", image: "busybox" }] },
          },
        },
      },
    });
    const pods = await eventually(async () => {
      const list = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" });
      return list.items.length === 2 ? list.items : undefined;
    }, "two Pods from the Deployment");
    expect(pods.every((p) => p.status?.phase === "Pending")).toBe(true);
  });
});
