// Controller leader failover: with two controller replicas, the leader's Pod is deleted while
// Tenants are being created; the other replica takes the Lease and reconciles every pending
// change (each new Tenant Ready at its current generation) within the lease duration + 5 s,
// the chart's --lease-duration being 15 s (the wait's bound, not an asserted duration).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl, kubectlApply, readyPods, SYSTEM_NS, until } from "./cluster.ts";

const CONTROLLER = "app.kubernetes.io/name=loraplex-controller";
const LEASE_SECONDS = 15;
const TENANTS = ["e2e-failover-1", "e2e-failover-2", "e2e-failover-3"];

const holder = () =>
  kubectl(
    "-n",
    SYSTEM_NS,
    "get",
    "lease",
    "loraplex-controller",
    "-o",
    "jsonpath={.spec.holderIdentity}",
  ).trim();

function reconciled(name: string): boolean {
  const t = JSON.parse(kubectl("get", "tenant", name, "-o", "json")) as {
    metadata: { generation: number };
    status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
  };
  return (
    t.status?.observedGeneration === t.metadata.generation &&
    t.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true
  );
}

function controllers(replicas: number): void {
  kubectl("-n", SYSTEM_NS, "scale", "deploy/loraplex-controller", `--replicas=${replicas}`);
}

beforeAll(async () => {
  controllers(2);
  await until("2 Ready controller replicas", 120, () =>
    readyPods(SYSTEM_NS, CONTROLLER).length === 2 ? true : undefined,
  );
}, 150_000);

afterAll(async () => {
  kubectl("delete", "tenants", ...TENANTS, "--ignore-not-found", "--wait=false");
  controllers(1);
  kubectl("-n", SYSTEM_NS, "rollout", "status", "deploy/loraplex-controller", "--timeout=90s");
}, 120_000);

describe("controller leader failover", () => {
  it("the other replica takes the Lease and reconciles every pending change", async () => {
    const leader = holder();
    expect(readyPods(SYSTEM_NS, CONTROLLER).map((p) => p.metadata.name)).toContain(leader);
    const deletedAt = Date.now();
    kubectl("-n", SYSTEM_NS, "delete", "pod", leader, "--wait=false");
    for (const name of TENANTS) {
      kubectlApply({
        apiVersion: "loraplex.io/v1alpha1",
        kind: "Tenant",
        metadata: { name },
        spec: {
          tier: "shared",
          pool: "shared",
          owners: [{ kind: "Group", name: `${name}-admins` }],
          models: ["llama-3.1-8b-instruct"],
        },
      });
    }
    const newLeader = await until("a new leader holding the Lease", LEASE_SECONDS + 5, () => {
      const h = holder();
      return h && h !== leader ? h : undefined;
    });
    await until(
      "every new Tenant reconciled by the new leader",
      LEASE_SECONDS + 5 - (Date.now() - deletedAt) / 1000,
      () => (TENANTS.every(reconciled) ? true : undefined),
    );
    console.log(
      `controller leader failover: ${leader} -> ${newLeader}; ${TENANTS.length} Tenants reconciled ${Date.now() - deletedAt} ms after the leader's Pod was deleted`,
    );
    expect(newLeader).not.toBe(leader);
  }, 120_000);
});
