// Pod Security admission on the real cluster: a dedicated tenant's namespace enforces
// `baseline`, so a privileged, hostPath or hostNetwork Pod there is refused; Loraplex's own Pods
// (controller, router, and the agent sidecar of every engine Pod) meet `restricted`, checked by
// admitting their real pod templates into a namespace that enforces `restricted`. Every create
// is a server-side dry run: admission runs in full, nothing is stored.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl, kubectlApply, kubectlResult, SYSTEM_NS } from "./cluster.ts";

const TENANT_NS = "tenant-globex";
const RESTRICTED_NS = "e2e-restricted";

type PodSpec = Record<string, unknown> & { containers: { name: string }[] };

function dryRunPod(ns: string, name: string, spec: PodSpec): { ok: boolean; out: string } {
  const manifest = JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: ns }, spec });
  return kubectlResult(["create", "--dry-run=server", "-o", "name", "-f", "-"], manifest);
}

function templateSpec(ns: string, deploy: string): PodSpec {
  const d = JSON.parse(kubectl("-n", ns, "get", "deploy", deploy, "-o", "json")) as {
    spec: { template: { spec: PodSpec } };
  };
  // The ServiceAccount lives in the Deployment's namespace; admission of the copy must not
  // fail on a missing account rather than on Pod Security.
  const { serviceAccountName: _sa, serviceAccount: _legacy, ...spec } = d.spec.template.spec;
  return { ...spec, automountServiceAccountToken: false } as PodSpec;
}

const pause = { name: "c", image: "loraplex.local/pause:any", imagePullPolicy: "Never" };

beforeAll(() => {
  kubectlApply({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: RESTRICTED_NS,
      labels: {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
      },
    },
  });
});

afterAll(() => {
  kubectl("delete", "namespace", RESTRICTED_NS, "--wait=false", "--ignore-not-found");
});

describe("Pod Security admission", () => {
  it("the dedicated tenant's namespace enforces baseline", () => {
    const labels = JSON.parse(
      kubectl("get", "namespace", TENANT_NS, "-o", "jsonpath={.metadata.labels}"),
    ) as Record<string, string>;
    expect(labels["pod-security.kubernetes.io/enforce"]).toBe("baseline");
  });

  it.each([
    ["privileged", { containers: [{ ...pause, securityContext: { privileged: true } }] }, /privileged/],
    [
      "hostPath",
      {
        containers: [{ ...pause, volumeMounts: [{ name: "host", mountPath: "/host" }] }],
        volumes: [{ name: "host", hostPath: { path: "/" } }],
      },
      /hostPath/,
    ],
    ["hostNetwork", { hostNetwork: true, containers: [pause] }, /host namespaces|hostNetwork/],
  ])("a %s Pod in the tenant's namespace is refused", (_kind, spec, reason) => {
    const r = dryRunPod(TENANT_NS, "e2e-escape", spec as PodSpec);
    expect(r.ok).toBe(false);
    expect(r.out).toContain('violates PodSecurity "baseline:latest"');
    expect(r.out).toMatch(reason);
  });

  it("a plain Pod in the tenant's namespace is admitted (the refusals above are Pod Security's)", () => {
    const r = dryRunPod(TENANT_NS, "e2e-plain", { containers: [pause] });
    expect(r).toEqual({ ok: true, out: "pod/e2e-plain\n" });
  });

  it("the restricted namespace refuses a Pod that could run as root (its check is live)", () => {
    const r = dryRunPod(RESTRICTED_NS, "e2e-root", { containers: [pause] });
    expect(r.ok).toBe(false);
    expect(r.out).toContain('violates PodSecurity "restricted:latest"');
  });

  it.each([
    ["controller", SYSTEM_NS, "loraplex-controller", null],
    ["router", SYSTEM_NS, "loraplex-router", null],
    ["shared pool's agent sidecar", SYSTEM_NS, "shared-engine", "agent"],
    ["globex pool's agent sidecar", TENANT_NS, "engine-engine", "agent"],
  ])("the %s's pod template meets restricted", (_what, ns, deploy, onlyContainer) => {
    const spec = templateSpec(ns, deploy);
    if (onlyContainer) {
      spec.containers = spec.containers.filter((c) => c.name === onlyContainer);
      expect(spec.containers).toHaveLength(1);
    }
    const r = dryRunPod(RESTRICTED_NS, `e2e-${deploy}`, spec);
    expect(r.out).not.toContain("violates PodSecurity");
    expect(r.ok).toBe(true);
  });
});
