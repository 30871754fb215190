// What the reconcilers need from tenant erasure, apart from how erasure.ts does it: the controller
// context holds an eraser without importing the implementation (which imports the context).

export type ObjectErasure = { bucket: string; prefix: string; deleted: number };

export interface TenantEraser {
  /** Deletes the tenant's namespace; "gone" once it no longer exists, "pending" while it terminates. */
  deleteNamespace(tenant: string): Promise<"gone" | "pending">;
  /** Deletes every object under tenants/<tenant>/ in `bucket`. */
  deleteObjects(tenant: string, bucket: string): Promise<ObjectErasure>;
  deleteRows(tenant: string): Promise<Record<string, number>>;
}
