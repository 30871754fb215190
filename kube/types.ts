// The slice of Kubernetes object shapes loraplex reads, and the API resources it uses.
import { API_GROUP, API_VERSION } from "../core/tenant.ts";

export type OwnerReference = {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
};

export type ObjectMeta = {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
};

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [key: string]: unknown;
};

export type ResourceType = {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
};

const rt = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced = true,
): ResourceType => ({
  group,
  version,
  plural,
  kind,
  namespaced,
});

export const R = {
  tenants: rt(API_GROUP, API_VERSION, "tenants", "Tenant", false),
  modelPools: rt(API_GROUP, API_VERSION, "modelpools", "ModelPool"),
  namespaces: rt("", "v1", "namespaces", "Namespace", false),
  resourceQuotas: rt("", "v1", "resourcequotas", "ResourceQuota"),
  limitRanges: rt("", "v1", "limitranges", "LimitRange"),
  serviceAccounts: rt("", "v1", "serviceaccounts", "ServiceAccount"),
  services: rt("", "v1", "services", "Service"),
  events: rt("", "v1", "events", "Event"),
  networkPolicies: rt("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
  roleBindings: rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
  deployments: rt("apps", "v1", "deployments", "Deployment"),
  podDisruptionBudgets: rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
  leases: rt("coordination.k8s.io", "v1", "leases", "Lease"),
  endpointSlices: rt("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
  jobs: rt("batch", "v1", "jobs", "Job"),
  pods: rt("", "v1", "pods", "Pod"),
} as const;

export function apiVersionOf(r: ResourceType): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function keyOf(obj: KubeObject): string {
  return objectKey(obj.metadata.namespace, obj.metadata.name ?? "");
}

// Labels the controller puts on everything it owns; its watches select on the first one.
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "loraplex-controller";
export const TENANT_LABEL = `${API_GROUP}/tenant`;
export const POOL_LABEL = `${API_GROUP}/pool`;
export const HASH_ANNOTATION = `${API_GROUP}/applied-hash`;
export const TENANT_FINALIZER = `${API_GROUP}/erasure`;
export const API_VERSION_MODEL_POOL = `${API_GROUP}/${API_VERSION}`;
