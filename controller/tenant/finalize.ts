// Deletion of a Tenant: the finalizer holds the object until its data is erased. Order matters:
// the namespace goes first (its engine pods stop, so nothing re-creates objects), then the S3
// prefix (after which no agent can download the tenant's adapters again), then the adapters
// cached on the shared engines, then the Postgres rows; an Event records what was erased, and only then does the
// finalizer come off. Any failure leaves the finalizer, marks the Tenant Degraded with the
// reason, and is retried with backoff by the work queue.

import { tenantNamespace } from "../../core/cluster-layout.ts";
import { R, TENANT_FINALIZER } from "../../kube/types.ts";
import type { Ctx, ReconcileResult, TenantObject } from "../context.ts";
import { writeStatus } from "../status.ts";
import { failedStatus, recordTransitions } from "./status.ts";

const NAMESPACE_POLL_MS = 2_000;

export async function finalizeTenant(ctx: Ctx, obj: TenantObject): Promise<ReconcileResult> {
  if (!obj.metadata.finalizers?.includes(TENANT_FINALIZER)) return {};
  const name = obj.metadata.name!;
  const spec = obj.spec as { tier?: string; storage?: { bucket?: string } } | undefined;
  const bucket = spec?.storage?.bucket ?? ctx.config.bucket;
  try {
    if ((await ctx.eraser.deleteNamespace(name)) === "pending") {
      return { requeueAfterMs: NAMESPACE_POLL_MS }; // its delete event usually wakes us sooner
    }
    const objects = await ctx.eraser.deleteObjects(name, bucket);
    const adapters = await ctx.eraser.purgeAdapters(name);
    const rows = await ctx.eraser.deleteRows(name);
    // A shared-tier tenant never had a namespace (or lost it when it left the dedicated tier).
    const namespaceText =
      spec?.tier === "dedicated" ? `namespace ${tenantNamespace(name)} deleted` : "no dedicated namespace";
    const rowText = Object.entries(rows)
      .map(([table, n]) => `${table}=${n}`)
      .join(", ");
    await ctx.events.record(
      obj,
      "Normal",
      "Erased",
      `erased tenant ${name}: ${objects.deleted} object(s) under s3://${objects.bucket}/${objects.prefix}; ` +
        `Postgres rows: ${rowText || "none"}; ${namespaceText}; ` +
        `${adapters.removed} adapter(s) purged from ${adapters.agents} shared agent(s)`,
    );
    ctx.log.info({ tenant: name, objects: objects.deleted, rows, adapters }, "tenant erased");
  } catch (err) {
    const message = `erasure failed, deletion blocked until it succeeds: ${(err as Error).message}`;
    const status = failedStatus(obj, "ErasureFailed", message);
    const before = obj.status?.conditions;
    if (await writeStatus(ctx.client, ctx.caches.tenants, obj, status)) {
      await recordTransitions(ctx.events, obj, before, status.conditions);
    }
    throw err;
  }
  // Applying without the finalizer gives up our ownership of it, which removes it...
  let after = await ctx.client.apply<TenantObject>(R.tenants, {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name },
  });
  // ...unless another field manager claimed it too (a full-object update can): then cut it out.
  const at = (after.metadata.finalizers ?? []).indexOf(TENANT_FINALIZER);
  if (at >= 0) {
    after = await ctx.client.jsonPatch<TenantObject>(R.tenants, name, undefined, [
      { op: "test", path: `/metadata/finalizers/${at}`, value: TENANT_FINALIZER },
      { op: "remove", path: `/metadata/finalizers/${at}` },
    ]);
  }
  // A reconcile already queued (the namespace poll above) must not find the finalizer in a
  // cache that has not yet seen this write, or it would erase (and report) a second time: the
  // object is gone, and remember() takes it out of the cache.
  ctx.caches.tenants.remember(after);
  return {};
}
