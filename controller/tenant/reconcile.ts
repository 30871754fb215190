// Reconciles one Tenant: validate, make sure the finalizer is on, build the tier's objects
// (dedicated) or make sure none remain (shared), publish status, and run erasure on deletion.
import { engineEndpoint, formatPoolRef, tenantNamespace, tenantPool } from "../../core/cluster-layout.ts";
import { checkAdapterSource, loraName } from "../../core/storage-layout.ts";
import { parseTenant, type Tenant } from "../../core/tenant.ts";
import type { AdapterStatus } from "../../core/tenant-status.ts";
import { R, TENANT_FINALIZER } from "../../kube/types.ts";
import type { Ctx, ModelPoolObject, ReconcileResult, TenantObject } from "../context.ts";
import { writeStatus } from "../status.ts";
import { renderTenantModelPool } from "./engine-pool.ts";
import { finalizeTenant } from "./finalize.ts";
import { renderLimitRange } from "./limit-range.ts";
import { isTenantNamespace, renderNamespace } from "./namespace.ts";
import { renderNetworkPolicies } from "./network-policy.ts";
import { renderResourceQuota } from "./quota.ts";
import { ownerProblem, renderOwnerRoleBinding, renderServiceAccount } from "./rbac.ts";
import { type Problem, recordTransitions, type TenantOutcome, tenantStatus } from "./status.ts";

const NAMESPACE_WAIT_MS = 2_000;

export async function reconcileTenant(ctx: Ctx, name: string): Promise<ReconcileResult> {
  const obj = ctx.caches.tenants.get(name);
  if (!obj) return {}; // deleted and finalized: owner references let the GC remove the rest
  if (obj.metadata.deletionTimestamp) return finalizeTenant(ctx, obj);
  await ensureFinalizer(ctx, obj);

  const parsed = parseTenant(obj);
  let outcome: TenantOutcome;
  let problems: Problem[];
  let adapters: AdapterStatus[] = [];
  let requeueAfterMs: number | undefined;
  if (!parsed.ok) {
    // The CRD's schema and rules catch most of this; the rest (duplicates...) is reported here.
    problems = [{ reason: "InvalidSpec", message: parsed.error }];
    outcome = { tier: obj.spec?.tier === "dedicated" ? "dedicated" : "shared" };
  } else {
    const tenant = parsed.tenant;
    adapters = checkAdapters(tenant, ctx.config.bucket);
    problems = [
      ...adapters
        .filter((a) => !a.ready)
        .map((a) => ({ reason: "InvalidAdapter", message: `adapter ${a.name} v${a.version}: ${a.message}` })),
      ...tenant.spec.owners.flatMap((o) => {
        const p = ownerProblem(o);
        return p ? [{ reason: "InvalidOwner", message: p }] : [];
      }),
    ];
    const validOwners = tenant.spec.owners.filter((o) => !ownerProblem(o));
    const r =
      tenant.spec.tier === "dedicated"
        ? await reconcileDedicated(ctx, obj, tenant, validOwners)
        : await reconcileShared(ctx, obj, tenant);
    outcome = r.outcome;
    requeueAfterMs = r.requeueAfterMs;
  }

  const status = tenantStatus(obj, outcome, problems, adapters);
  const before = obj.status?.conditions;
  if (await writeStatus(ctx.client, ctx.caches.tenants, obj, status)) {
    // Not awaited: an Event is a note for humans and must not slow the reconcile down.
    void recordTransitions(ctx.events, obj, before, status.conditions);
  }
  return { requeueAfterMs };
}

async function ensureFinalizer(ctx: Ctx, obj: TenantObject): Promise<void> {
  if (obj.metadata.finalizers?.includes(TENANT_FINALIZER)) return;
  // Applying only the finalizer: the controller's field manager owns that list item and nothing else.
  const written = await ctx.client.apply<TenantObject>(R.tenants, {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name: obj.metadata.name, finalizers: [TENANT_FINALIZER] },
  });
  ctx.caches.tenants.remember(written);
  obj.metadata.finalizers = written.metadata.finalizers;
  obj.metadata.resourceVersion = written.metadata.resourceVersion;
}

function checkAdapters(tenant: Tenant, defaultBucket: string): AdapterStatus[] {
  const bucket = tenant.spec.storage?.bucket ?? defaultBucket;
  return tenant.spec.adapters.map((a) => {
    const gate = checkAdapterSource(a.source, tenant.metadata.name, bucket);
    return {
      name: a.name,
      version: a.version,
      loraName: loraName(tenant.metadata.name, a.name, a.version),
      ready: gate.ok,
      ...(gate.ok ? {} : { message: gate.reason }),
    };
  });
}

type TierResult = { outcome: TenantOutcome; requeueAfterMs?: number };

async function reconcileShared(ctx: Ctx, obj: TenantObject, tenant: Tenant): Promise<TierResult> {
  const { systemNamespace } = ctx.config;
  const ref = tenantPool(tenant, systemNamespace);
  const pool = ref.name;
  const outcome: TenantOutcome = { tier: "shared", pool: formatPoolRef(ref), endpoint: engineEndpoint(ref) };
  // A tenant that moved from dedicated to shared keeps nothing dedicated: its namespace goes.
  const nsName = tenantNamespace(tenant.metadata.name);
  const ns = ctx.caches.namespaces.get(nsName);
  let requeueAfterMs: number | undefined;
  if (isTenantNamespace(ns, tenant.metadata.name)) {
    if (!ns.metadata.deletionTimestamp) {
      await ctx.client.delete(R.namespaces, nsName);
      await ctx.events.record(
        obj,
        "Normal",
        "DedicatedRemoved",
        `deleting namespace ${nsName} (tier is shared)`,
      );
    }
    outcome.progressing = {
      reason: "RemovingDedicated",
      message: `waiting for namespace ${nsName} to be deleted`,
    };
    requeueAfterMs = NAMESPACE_WAIT_MS * 5; // the namespace's delete event normally comes first
  }
  if (!ctx.caches.modelPools.get(pool, systemNamespace)) {
    outcome.blocked = {
      reason: "PoolNotFound",
      message: `ModelPool ${systemNamespace}/${pool} does not exist`,
    };
  }
  return { outcome, requeueAfterMs };
}

async function reconcileDedicated(
  ctx: Ctx,
  obj: TenantObject,
  tenant: Tenant,
  owners: Tenant["spec"]["owners"],
): Promise<TierResult> {
  const ref = tenantPool(tenant, ctx.config.systemNamespace);
  const nsName = ref.namespace;
  const outcome: TenantOutcome = {
    tier: "dedicated",
    namespace: nsName,
    pool: formatPoolRef(ref),
    endpoint: engineEndpoint(ref),
  };
  const existing = ctx.caches.namespaces.get(nsName);
  if (existing?.metadata.deletionTimestamp) {
    // Left over from an earlier shared move or deletion: it must finish before we recreate it.
    outcome.blocked = {
      reason: "NamespaceTerminating",
      message: `namespace ${nsName} is still being deleted`,
    };
    outcome.progressing = outcome.blocked;
    return { outcome, requeueAfterMs: NAMESPACE_WAIT_MS };
  }
  if (existing && !isTenantNamespace(existing, tenant.metadata.name)) {
    outcome.blocked = {
      reason: "NamespaceConflict",
      message: `namespace ${nsName} exists and is not this tenant's`,
    };
    return { outcome };
  }
  const { config, applier, caches } = ctx;
  await applier.apply(caches.namespaces, renderNamespace(obj, config));
  const [pool] = await Promise.all([
    applier.apply<ModelPoolObject>(caches.modelPools, renderTenantModelPool(obj, tenant, config.gpuResource)),
    applier.apply(caches.resourceQuotas, renderResourceQuota(obj, tenant, config)),
    applier.apply(caches.limitRanges, renderLimitRange(obj)),
    ...renderNetworkPolicies(obj, config).map((np) => applier.apply(caches.networkPolicies, np)),
    applier.apply(caches.serviceAccounts, renderServiceAccount(obj)),
    applier.apply(caches.roleBindings, renderOwnerRoleBinding(obj, owners, config)),
  ]);
  const engine = { replicas: tenant.spec.dedicated!.replicas, ready: pool.status?.readyReplicas ?? 0 };
  outcome.engine = engine;
  if (pool.status?.observedGeneration !== pool.metadata.generation) {
    // Ready means configured end to end: the pool's Deployment, Service and PDB exist too.
    outcome.blocked = {
      reason: "EnginePoolPending",
      message: `waiting for ModelPool ${outcome.pool} to be reconciled`,
    };
    outcome.progressing = outcome.blocked;
  } else if (engine.ready < engine.replicas) {
    outcome.progressing = {
      reason: "EngineStarting",
      message: `${engine.ready}/${engine.replicas} engine replicas ready`,
    };
  }
  return { outcome };
}
