// The Helm chart: lints, its values schema rejects nonsense, every rendered object is accepted by
// the API server (server-side dry run, CRDs installed first), its CRDs are the generated ones and
// its controller ClusterRole is the shipped least-privilege one.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import type { KubeClient } from "../../kube/client.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import { uniqueName } from "../support/unique.ts";
import { adminClient, installCrdsAndRoles, ROOT, readManifests } from "./harness-cluster.ts";

const run = promisify(execFile);
const CHART = join(ROOT, "charts/loraplex");
let admin: KubeClient;
const namespace = uniqueName("lpx-chart");

async function tool(
  bin: string,
  args: string[],
  input?: string,
): Promise<{ stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    KUBECONFIG: inject("kubeconfigPath"),
    HELM_CACHE_HOME: "/tmp/loraplex-helm-cache",
  };
  if (input === undefined) return run(bin, args, { env, maxBuffer: 16 << 20 });
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { env, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(Object.assign(err, { stdout, stderr })) : resolve({ stdout, stderr }),
    );
    child.stdin!.end(input);
  });
}

const helm = (args: string[]) => tool(inject("helm"), args);
const template = (extra: string[] = []) =>
  helm(["template", "lpx", CHART, "--namespace", namespace, "--set", "sharedPool.enabled=true", ...extra]);

beforeAll(async () => {
  admin = adminClient(inject("kubeconfigPath"));
  await installCrdsAndRoles(admin);
  await admin.create(R.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
});
afterAll(async () => {
  await admin?.delete(R.namespaces, namespace).catch(() => false);
});

describe("manifests", () => {
  it("RBAC and samples (shared and dedicated Tenants, the shared ModelPool) pass server-side validation", async () => {
    // The samples live in loraplex-system; a dry run needs the namespace itself to exist.
    await admin
      .create(R.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: "loraplex-system" } })
      .catch(() => undefined);
    const dir = (p: string) => join(ROOT, p);
    const { stdout } = await tool(inject("kubectl"), [
      "apply",
      "--server-side",
      "--dry-run=server",
      "--force-conflicts",
      "--field-manager=manifest-test",
      "-f",
      dir("manifests/rbac"),
      "-f",
      dir("manifests/samples"),
    ]);
    expect(stdout).toContain("clusterrole.rbac.authorization.k8s.io/loraplex-controller serverside-applied");
    expect(stdout).toContain("tenant.loraplex.io/acme serverside-applied");
    expect(stdout).toContain("tenant.loraplex.io/globex serverside-applied");
    expect(stdout).toContain("modelpool.loraplex.io/shared serverside-applied");
  });
});

describe("helm chart", () => {
  it("passes helm lint, with the optional parts on too", async () => {
    await helm(["lint", "--strict", CHART]);
    await helm(["lint", "--strict", CHART, "--set", "serviceMonitor.enabled=true,sharedPool.enabled=true"]);
  });

  it("rejects values outside its schema", async () => {
    const err = await template(["--set", "controller.podSecurityLevel=loose"]).then(
      () => undefined,
      (e: { stderr: string }) => e,
    );
    expect(err?.stderr).toContain("podSecurityLevel");
  });

  it("renders objects the API server accepts (server-side dry run)", async () => {
    const { stdout } = await template();
    const kinds = parseAllDocuments(stdout)
      .map((d) => (d.toJS() as KubeObject | null)?.kind)
      .filter(Boolean);
    expect(kinds).toEqual(
      expect.arrayContaining([
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ClusterRole",
        "ServiceAccount",
        "ModelPool",
        "ConfigMap",
      ]),
    );
    const { stdout: applied } = await tool(
      inject("kubectl"),
      [
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager=chart-test",
        "-f",
        "-",
      ],
      stdout,
    );
    expect(applied).toContain("deployment.apps/loraplex-controller serverside-applied (server dry run)");
    expect(applied).toContain("modelpool.loraplex.io/shared serverside-applied (server dry run)");
  });

  it("runs every container non-root, read-only, with all capabilities dropped", async () => {
    // biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary Kubernetes objects
    const docs = parseAllDocuments((await template()).stdout).map((d) => d.toJS() as Record<string, any>);
    const deployments = docs.filter((d) => d?.kind === "Deployment");
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      "loraplex-controller",
      "loraplex-router",
      "loraplex-trainer",
    ]);
    for (const d of deployments) {
      expect(d.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
      for (const c of d.spec.template.spec.containers) {
        expect(c.securityContext).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
      }
    }
    const dashboard = docs.find((d) => d?.kind === "ConfigMap");
    expect(JSON.parse(dashboard?.data["loraplex.json"]).panels.length).toBeGreaterThan(5);
  });

  it("trains with the training image by default, and with the training simulator when asked", async () => {
    const trainerArgs = async (extra: string[]) => {
      const docs = parseAllDocuments((await template(extra)).stdout).map((d) => d.toJS() as KubeObject);
      const d = docs.find((o) => o?.kind === "Deployment" && o.metadata.name === "loraplex-trainer");
      return (d!.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec
        .containers[0]!.args;
    };
    const real = await trainerArgs([]);
    expect(real).toContain("--image=ghcr.io/loraplex/trainer:0.1.0");
    expect(real).toContain("--gpus=1");
    expect(real).not.toContain("--training-simulator");
    const sim = await trainerArgs(["--set", "trainer.simulator=true,image.repository=lpx.test/loraplex"]);
    expect(sim).toContain("--training-simulator");
    expect(sim.find((a) => a.startsWith("--image="))).toMatch(/^--image=lpx\.test\/loraplex:/);
    expect(sim.some((a) => a.startsWith("--gpus="))).toBe(false);
  });

  it("drains the router on shutdown: preStop pause, then the delay and grace it is given", async () => {
    // biome-ignore lint/suspicious/noExplicitAny: assertions walk arbitrary Kubernetes objects
    const docs = parseAllDocuments((await template()).stdout).map((d) => d.toJS() as Record<string, any>);
    const pod = docs.find((d) => d?.kind === "Deployment" && d.metadata.name === "loraplex-router")!.spec
      .template.spec;
    const router = pod.containers[0];
    // The defaults are tuned in values.yaml; the rendering must follow whatever they are.
    const { preStopSeconds, delaySeconds, graceSeconds } = (
      parseYaml(readFileSync(join(CHART, "values.yaml"), "utf8")) as {
        router: { shutdown: { preStopSeconds: number; delaySeconds: number; graceSeconds: number } };
      }
    ).router.shutdown;
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(router.lifecycle).toEqual({ preStop: { sleep: { seconds: preStopSeconds } } });
    expect(router.args).toEqual(
      expect.arrayContaining([
        `--shutdown-delay-ms=${delaySeconds * 1000}`,
        `--shutdown-grace-ms=${graceSeconds * 1000}`,
      ]),
    );
    expect(pod.terminationGracePeriodSeconds).toBe(preStopSeconds + delaySeconds + graceSeconds + 5);
  });

  it("ships the generated CRDs and the manifests' controller ClusterRole unchanged", async () => {
    const dir = (p: string) => readdirSync(join(ROOT, p)).sort();
    expect(dir("charts/loraplex/crds")).toEqual(dir("manifests/crds"));
    for (const f of dir("manifests/crds")) {
      expect(readFileSync(join(CHART, "crds", f), "utf8")).toBe(
        readFileSync(join(ROOT, "manifests/crds", f), "utf8"),
      );
    }
    const rendered = parseAllDocuments((await template()).stdout).map(
      (d) => d.toJS() as KubeObject & { rules?: unknown },
    );
    const role = (docs: (KubeObject & { rules?: unknown })[], name: string) =>
      docs.find((d) => d?.kind === "ClusterRole" && d.metadata.name === name)?.rules;
    const shipped = readManifests("manifests/rbac") as (KubeObject & { rules?: unknown })[];
    expect(role(rendered, "loraplex-controller")).toEqual(role(shipped, "loraplex-controller"));
    expect(role(rendered, "loraplex-tenant-owner")).toEqual(role(shipped, "loraplex-tenant-owner"));
  });
});
