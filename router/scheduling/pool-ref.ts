// Which engine pool serves a tenant, named "<namespace>/<pool>". The controller renders the
// pool's Service as "<pool>-engine" in that namespace; discovery looks there and nowhere else.
import type { Tenant } from "../../core/tenant.ts";

export const DEFAULT_SYSTEM_NAMESPACE = "loraplex-system";
const DEFAULT_SHARED_POOL = "shared";
/** The ModelPool name the controller gives a dedicated tenant's own pool. */
const DEDICATED_POOL = "engine";

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Shared tier: spec.pool (default "shared") in the system namespace. Dedicated tier: the
 * tenant's own namespace, so a dedicated tenant can never be scheduled onto shared GPUs.
 */
export function poolRefFor(tenant: Tenant, systemNamespace: string): string {
  if (tenant.spec.tier === "dedicated") return `tenant-${tenant.metadata.name}/${DEDICATED_POOL}`;
  return `${systemNamespace}/${tenant.spec.pool ?? DEFAULT_SHARED_POOL}`;
}

export type PoolRef = { namespace: string; name: string };

/** Splits "<namespace>/<name>"; both parts must be DNS labels. */
export function parsePoolRef(ref: string): PoolRef {
  const slash = ref.indexOf("/");
  const namespace = ref.slice(0, slash);
  const name = ref.slice(slash + 1);
  if (slash < 0 || !DNS_LABEL.test(namespace) || !DNS_LABEL.test(name)) {
    throw new Error(`pool ref '${ref}' must look like <namespace>/<pool> (DNS labels)`);
  }
  return { namespace, name };
}

/** The Service (and EndpointSlice service-name label) the controller renders for a pool. */
export function engineServiceName(pool: string): string {
  return `${pool}-engine`;
}
