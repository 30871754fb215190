// Reconciles one ModelPool into its Deployment, Service and PodDisruptionBudget, and reports
// the Deployment's progress in the pool's status. Deletion needs nothing: the three objects
// carry owner references, so the garbage collector removes them with the pool.

import { engineName } from "../../core/cluster-layout.ts";
import { findCondition } from "../../core/conditions.ts";
import { type ModelPoolStatus, parseModelPoolSpec } from "../../core/model-pool.ts";
import { TENANT_LABEL } from "../../kube/types.ts";
import type { Ctx, DeploymentObject, ModelPoolObject, ReconcileResult } from "../context.ts";
import { buildConditions, type ConditionInput, writeStatus } from "../status.ts";
import { renderDeployment } from "./render-deployment.ts";
import { renderPodDisruptionBudget } from "./render-pdb.ts";
import { renderService } from "./render-service.ts";

/**
 * Pools this controller instance is responsible for: its tenants' pools and the system namespace's.
 * A deleted Tenant's pool is not: the finalizer is removing its namespace, where the API server
 * refuses new objects, so re-applying them (when the namespace's deletion removes one) only fails.
 */
function ownsPool(ctx: Ctx, mp: ModelPoolObject): boolean {
  const tenant = mp.metadata.labels?.[TENANT_LABEL];
  if (tenant) {
    const owner = ctx.caches.tenants.get(tenant);
    return owner !== undefined && !owner.metadata.deletionTimestamp;
  }
  return mp.metadata.namespace === ctx.config.systemNamespace;
}

export async function reconcileModelPool(
  ctx: Ctx,
  namespace: string,
  name: string,
): Promise<ReconcileResult> {
  const mp = ctx.caches.modelPools.get(name, namespace);
  if (!mp || mp.metadata.deletionTimestamp || !ownsPool(ctx, mp)) return {};
  const parsed = parseModelPoolSpec(mp.spec);
  if (!parsed.ok) {
    await writePoolStatus(ctx, mp, {
      ...mp.status,
      conditions: buildConditions(
        mp.status?.conditions,
        {
          Ready: { status: "False", reason: "InvalidSpec", message: parsed.error },
          Progressing: { status: "False", reason: "InvalidSpec", message: "" },
          Degraded: { status: "True", reason: "InvalidSpec", message: parsed.error },
        },
        mp.metadata.generation,
      ),
    });
    return {};
  }
  const spec = parsed.spec;
  const { applier, caches } = ctx;
  const [deployment] = await Promise.all([
    applier.apply<DeploymentObject>(caches.deployments, renderDeployment(mp, spec, ctx.config)),
    applier.apply(caches.services, renderService(mp)),
    applier.apply(caches.podDisruptionBudgets, renderPodDisruptionBudget(mp)),
  ]);
  const ds = deployment.status ?? {};
  const ready = ds.readyReplicas ?? 0;
  const updated = ds.updatedReplicas ?? 0;
  const failure = deployment.status?.conditions?.find(
    (c) => c.type === "ReplicaFailure" && c.status === "True",
  );
  const readyCond: ConditionInput =
    spec.replicas === 0
      ? { status: "False", reason: "ScaledToZero", message: "spec.replicas is 0" }
      : ready >= spec.replicas
        ? { status: "True", reason: "Available", message: `${ready}/${spec.replicas} replicas ready` }
        : {
            status: "False",
            reason: "ReplicasNotReady",
            message: `${ready}/${spec.replicas} replicas ready`,
          };
  const progressing: ConditionInput =
    ready < spec.replicas || updated < spec.replicas
      ? { status: "True", reason: "RollingOut", message: `${updated}/${spec.replicas} replicas updated` }
      : { status: "False", reason: "Stable", message: "" };
  // e.g. pods refused by the namespace's ResourceQuota or Pod Security admission
  const degraded: ConditionInput = failure
    ? { status: "True", reason: failure.reason ?? "ReplicaFailure", message: failure.message ?? "" }
    : { status: "False", reason: "AsExpected", message: "" };
  const status: ModelPoolStatus = {
    observedGeneration: mp.metadata.generation,
    service: engineName(name),
    engine: spec.engine ?? ctx.config.defaultEngine,
    replicas: ds.replicas ?? 0,
    readyReplicas: ready,
    conditions: buildConditions(
      mp.status?.conditions,
      { Ready: readyCond, Progressing: progressing, Degraded: degraded },
      mp.metadata.generation,
    ),
  };
  const before = findCondition(mp.status?.conditions, "Degraded");
  if ((await writePoolStatus(ctx, mp, status)) && degraded.status === "True" && before?.status !== "True") {
    await ctx.events.record(mp, "Warning", degraded.reason, degraded.message);
  }
  return {};
}

function writePoolStatus(ctx: Ctx, mp: ModelPoolObject, status: ModelPoolStatus): Promise<boolean> {
  return writeStatus(ctx.client, ctx.caches.modelPools, mp, status);
}
