// What the reconcilers need from tenant erasure, apart from how erasure.ts does it: the controller
// context holds an eraser without importing the implementation (which imports the context).

export type ObjectErasure = { bucket: string; prefix: string; deleted: number };

/** Adapters erased from the shared engines' agents, and how many agents were asked. */
export type AdapterPurge = { agents: number; removed: number };

export interface TenantEraser {
  /** Deletes the tenant's namespace; "gone" once it no longer exists, "pending" while it terminates. */
  deleteNamespace(tenant: string): Promise<"gone" | "pending">;
  /** Deletes every object under tenants/<tenant>/ in `bucket`. */
  deleteObjects(tenant: string, bucket: string): Promise<ObjectErasure>;
  /** Unloads and deletes the tenant's adapters on every shared engine's agent. */
  purgeAdapters(tenant: string): Promise<AdapterPurge>;
  deleteRows(tenant: string): Promise<Record<string, number>>;
}
