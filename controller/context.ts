// What every reconciler gets: settings, the API client, the informer caches, and helpers for
// the labels and owner references that tie generated objects to their Tenant or ModelPool.
import type { Logger } from "../core/log.ts";
import type { Engine, ModelPoolSpecInput, ModelPoolStatus } from "../core/model-pool.ts";
import type { TenantStatus } from "../core/tenant-status.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Informer } from "../kube/informer.ts";
import { type KubeObject, MANAGED_BY, MANAGED_BY_LABEL, type OwnerReference } from "../kube/types.ts";
import type { Applier } from "./apply.ts";
import type { ControllerMetrics } from "./metrics.ts";
import type { TenantEraser } from "./tenant/eraser.ts";
import type { EventRecorder } from "./tenant/events.ts";

export type ControllerConfig = {
  /** Where the shared ModelPools, the router and the controller itself live. */
  systemNamespace: string;
  engineImage: string;
  agentImage: string;
  /** Engine of pools whose spec.engine is unset (vllm unless --default-engine says otherwise). */
  defaultEngine: Engine;
  /** Default bucket of tenant data; a Tenant's spec.storage.bucket overrides it. */
  bucket: string;
  s3Endpoint: string;
  s3Region: string;
  s3ForcePathStyle: boolean;
  /** Where dedicated engine pods may send S3 traffic (NetworkPolicy ipBlocks) and on which port. */
  s3EgressCidrs: string[];
  s3Port: number;
  /** DNS servers outside Pods (NodeLocal DNSCache, a node's resolver) tenant pods may query. */
  dnsEgressCidrs: string[];
  /** Labels of router pods: the only ones a dedicated engine accepts connections from. */
  routerPodLabels: Record<string, string>;
  /** Extended resource name of GPUs on the nodes. */
  gpuResource: string;
  podSecurityLevel: "privileged" | "baseline" | "restricted";
  /** ClusterRole that a dedicated tenant's owners get in their namespace. */
  ownerClusterRole: string;
  identity: string;
};

export type TenantObject = KubeObject & { spec?: Record<string, unknown>; status?: TenantStatus };
export type ModelPoolObject = KubeObject & { spec?: ModelPoolSpecInput; status?: ModelPoolStatus };
export type DeploymentObject = KubeObject & {
  status?: {
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
};

export type Caches = {
  tenants: Informer<TenantObject>;
  modelPools: Informer<ModelPoolObject>;
  namespaces: Informer<KubeObject>;
  resourceQuotas: Informer<KubeObject>;
  limitRanges: Informer<KubeObject>;
  networkPolicies: Informer<KubeObject>;
  serviceAccounts: Informer<KubeObject>;
  roleBindings: Informer<KubeObject>;
  deployments: Informer<DeploymentObject>;
  services: Informer<KubeObject>;
  podDisruptionBudgets: Informer<KubeObject>;
};

export type Ctx = {
  config: ControllerConfig;
  client: KubeClient;
  caches: Caches;
  applier: Applier;
  events: EventRecorder;
  eraser: TenantEraser;
  metrics: ControllerMetrics;
  log: Logger;
};

/** Result of one reconcile: when to look again even if nothing changes. */
export type ReconcileResult = { requeueAfterMs?: number };

export function ownerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion ?? "",
    kind: owner.kind ?? "",
    name: owner.metadata.name ?? "",
    uid: owner.metadata.uid ?? "",
    controller: true,
  };
}

export function managedLabels(extra: Record<string, string>): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, ...extra };
}
