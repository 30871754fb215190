// Where a tenant's things live in the cluster, one rule each, shared by the controller that
// creates them, the router that finds them and the trainer that runs Jobs beside them:
//
//   tenant namespace   tenant-<tenant>: a dedicated tenant's pool and its training Jobs
//   pool               "<namespace>/<pool>": shared tier → <system namespace>/<spec.pool, default
//                      "shared">; dedicated tier → tenant-<tenant>/engine, never a shared pool
//   engine workload    the pool's Deployment, Service and PodDisruptionBudget, all named
//                      "<pool>-engine" in the pool's namespace; the router discovers replicas
//                      through that Service's EndpointSlices and nowhere else
import { ENGINE_PORT } from "./model-pool.ts";
import type { Tenant } from "./tenant.ts";

export const DEFAULT_SYSTEM_NAMESPACE = "loraplex-system";
export const DEFAULT_SHARED_POOL = "shared";
/** The ModelPool name of a dedicated tenant's own pool, in its namespace. */
export const DEDICATED_POOL = "engine";

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function tenantNamespace(tenant: string): string {
  return `tenant-${tenant}`;
}

export type PoolRef = { namespace: string; name: string };

/** The pool that serves a tenant. */
export function tenantPool(tenant: Tenant, systemNamespace: string): PoolRef {
  if (tenant.spec.tier === "dedicated") {
    return { namespace: tenantNamespace(tenant.metadata.name), name: DEDICATED_POOL };
  }
  return { namespace: systemNamespace, name: tenant.spec.pool ?? DEFAULT_SHARED_POOL };
}

export const formatPoolRef = (p: PoolRef): string => `${p.namespace}/${p.name}`;

/** tenantPool() as "<namespace>/<pool>", the form the router keys its pools by. */
export function poolRefFor(tenant: Tenant, systemNamespace: string): string {
  return formatPoolRef(tenantPool(tenant, systemNamespace));
}

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

/** The name of a pool's engine Deployment, Service (EndpointSlice service-name label) and PDB. */
export function engineName(pool: string): string {
  return `${pool}-engine`;
}

/** The in-cluster URL of a pool's engines, through its Service. */
export function engineEndpoint(pool: PoolRef): string {
  return `http://${engineName(pool.name)}.${pool.namespace}.svc:${ENGINE_PORT}`;
}
