// Runs the reconcilers while this process leads: starts the informer caches, maps every watch
// event to the Tenant or ModelPool it concerns, and drains the work queue with N workers.
import type { Logger } from "../core/log.ts";
import type { KubeClient } from "../kube/client.ts";
import { type InformerHandler, startInformer } from "../kube/informer.ts";
import {
  type KubeObject,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  POOL_LABEL,
  R,
  type ResourceType,
  TENANT_LABEL,
} from "../kube/types.ts";
import { canonicalJson, createApplier } from "./apply.ts";
import type {
  Caches,
  ControllerConfig,
  Ctx,
  DeploymentObject,
  ModelPoolObject,
  TenantObject,
} from "./context.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { reconcileModelPool } from "./model-pool/reconcile.ts";
import { writeStatus } from "./status.ts";
import type { TenantEraser } from "./tenant/eraser.ts";
import type { EventRecorder } from "./tenant/events.ts";
import { reconcileTenant } from "./tenant/reconcile.ts";
import { failedStatus } from "./tenant/status.ts";
import { createWorkQueue } from "./work-queue.ts";

export type ManagerOptions = {
  client: KubeClient;
  config: ControllerConfig;
  /** Label selector limiting which Tenants this controller handles (sharding, tests). */
  tenantSelector?: string;
  workers: number;
  eraser: TenantEraser;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
};

const tenantKey = (name: string) => `Tenant:${name}`;
const poolKey = (namespace: string, name: string) => `ModelPool:${namespace}/${name}`;

export async function runManager(
  opts: ManagerOptions,
  signal: AbortSignal,
): Promise<{ synced: Promise<void> }> {
  const { client, log, metrics } = opts;
  const queue = createWorkQueue({ baseDelayMs: 250, maxDelayMs: 60_000 });
  signal.addEventListener("abort", () => queue.shutdown(), { once: true });
  const managed = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

  let caches!: Caches;
  const start = <T extends KubeObject>(
    resource: ResourceType,
    onEvent: InformerHandler<T>,
    labelSelector = managed,
  ) => startInformer<T>({ client, resource, labelSelector, onEvent, log, signal });

  // Which events wake which reconciles. Events for objects this controller just wrote (own) wake
  // only *other* objects' reconciles: the reconcile that wrote them already accounts for them.
  // Updates that change nothing a reconcile reads (status written by Kubernetes' own
  // controllers, resourceVersion) wake nothing, so a busy cluster does not keep us busy.
  const tenantOf = (obj: KubeObject) => obj.metadata.labels?.[TENANT_LABEL];
  const onChild: InformerHandler<KubeObject> = (type, obj, old, own) => {
    const tenant = tenantOf(obj);
    if (tenant && !own && (type !== "update" || inputsChanged(old, obj))) queue.add(tenantKey(tenant));
  };
  const onPoolChild =
    (statusMatters: boolean): InformerHandler<KubeObject> =>
    (type, obj, old, own) => {
      const pool = obj.metadata.labels?.[POOL_LABEL];
      if (!pool || !obj.metadata.namespace || own) return;
      if (type !== "update" || statusMatters || inputsChanged(old, obj))
        queue.add(poolKey(obj.metadata.namespace, pool));
    };
  const onPool: InformerHandler<ModelPoolObject> = (type, mp, old, own) => {
    const ns = mp.metadata.namespace!;
    if (type !== "update" || inputsChanged(old, mp)) queue.add(poolKey(ns, mp.metadata.name!));
    const tenant = tenantOf(mp);
    // A tenant's Ready follows its pool's status; its reconcile repairs changes by others.
    if (tenant && (!own || !sameJson(old?.status, mp.status))) queue.add(tenantKey(tenant));
    // A shared pool appearing or going away changes the Ready of every tenant that uses it.
    if (ns === opts.config.systemNamespace && type !== "update" && caches) {
      for (const t of caches.tenants.list()) {
        const spec = t.spec as { tier?: string; pool?: string } | undefined;
        if (spec?.tier !== "dedicated" && (spec?.pool ?? "shared") === mp.metadata.name)
          queue.add(tenantKey(t.metadata.name!));
      }
    }
  };
  const onTenant: InformerHandler<TenantObject> = (type, t, old, own) => {
    if (own) return;
    // The spec (generation), deletion and finalizers decide a reconcile; the status is ours.
    if (
      type === "update" &&
      old &&
      old.metadata.generation === t.metadata.generation &&
      old.metadata.deletionTimestamp === t.metadata.deletionTimestamp &&
      sameJson(old.metadata.finalizers, t.metadata.finalizers)
    ) {
      return;
    }
    queue.add(tenantKey(t.metadata.name!));
  };

  caches = {
    tenants: start<TenantObject>(R.tenants, onTenant, opts.tenantSelector ?? ""),
    modelPools: start<ModelPoolObject>(R.modelPools, onPool, ""),
    namespaces: start(R.namespaces, onChild),
    resourceQuotas: start(R.resourceQuotas, onChild),
    limitRanges: start(R.limitRanges, onChild),
    networkPolicies: start(R.networkPolicies, onChild),
    serviceAccounts: start(R.serviceAccounts, onChild),
    roleBindings: start(R.roleBindings, onChild),
    // The pool's status mirrors its Deployment's, so Deployment status updates matter.
    deployments: start<DeploymentObject>(R.deployments, onPoolChild(true)),
    services: start(R.services, onPoolChild(false)),
    podDisruptionBudgets: start(R.podDisruptionBudgets, onPoolChild(false)),
  };
  const synced = Promise.all(Object.values(caches).map((c) => c.synced)).then(() => {});

  const ctx: Ctx = {
    config: opts.config,
    client,
    caches,
    applier: createApplier(client, metrics),
    events: opts.events,
    eraser: opts.eraser,
    metrics,
    log,
  };

  async function handle(key: string): Promise<void> {
    const [kind, rest] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    const end = metrics.reconcileDuration.startTimer({ kind });
    try {
      const result =
        kind === "Tenant"
          ? await reconcileTenant(ctx, rest)
          : await reconcileModelPool(ctx, rest.split("/")[0]!, rest.split("/")[1]!);
      queue.forget(key);
      if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      metrics.reconciles.inc({ kind, result: "success" });
    } catch (err) {
      metrics.reconciles.inc({ kind, result: "error" });
      metrics.reconcileErrors.inc({ kind });
      log.warn(
        { key, err: (err as Error).message, retries: queue.failures(key) },
        "reconcile failed; retrying with backoff",
      );
      if (kind === "Tenant") await reportTenantError(ctx, rest, err as Error);
      queue.addRateLimited(key);
    } finally {
      end();
    }
  }

  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      metrics.queueDepth.set(queue.length());
      try {
        await handle(key);
      } finally {
        queue.done(key);
      }
    }
  }

  // Nothing is reconciled from a partial cache: a missing object would look like one to create.
  await synced;
  log.info(
    { tenants: caches.tenants.list().length, pools: caches.modelPools.list().length },
    "caches synced",
  );
  for (let i = 0; i < opts.workers; i++) void worker();
  const gauge = setInterval(() => {
    metrics.queueDepth.set(queue.length());
    updateTenantGauge(caches, metrics);
  }, 1000);
  gauge.unref();
  signal.addEventListener("abort", () => clearInterval(gauge), { once: true });
  return { synced };
}

async function reportTenantError(ctx: Ctx, name: string, err: Error): Promise<void> {
  const obj = ctx.caches.tenants.get(name);
  if (!obj || obj.metadata.deletionTimestamp) return; // erasure reports its own failures
  try {
    await writeStatus(ctx.client, ctx.caches.tenants, obj, failedStatus(obj, "ReconcileError", err.message));
  } catch (statusErr) {
    ctx.log.warn({ tenant: name, err: (statusErr as Error).message }, "could not report the error in status");
  }
}

function updateTenantGauge(caches: Caches, metrics: ControllerMetrics): void {
  const counts = new Map<string, number>();
  for (const t of caches.tenants.list()) {
    const tier = (t.spec as { tier?: string } | undefined)?.tier ?? "shared";
    const ready = t.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "Unknown";
    counts.set(`${tier}|${ready}`, (counts.get(`${tier}|${ready}`) ?? 0) + 1);
  }
  metrics.tenants.reset();
  for (const [k, n] of counts) {
    const [tier, ready] = k.split("|") as [string, string];
    metrics.tenants.set({ tier, ready }, n);
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}

/** Whether anything but status, resourceVersion and managedFields differs. */
function inputsChanged(old: KubeObject | undefined, obj: KubeObject): boolean {
  if (!old) return true;
  const strip = (o: KubeObject) => ({
    ...o,
    status: undefined,
    metadata: { ...o.metadata, resourceVersion: undefined, managedFields: undefined },
  });
  return !sameJson(strip(old), strip(obj));
}
