// The dedicated tenant's ModelPool ("engine" in tenant-<name>), rendered from spec.dedicated.
// The ModelPool reconciler turns it into the Deployment, Service and PodDisruptionBudget.
import { DEDICATED_POOL, tenantNamespace } from "../../core/cluster-layout.ts";
import type { ModelPoolSpecInput } from "../../core/model-pool.ts";
import type { Tenant } from "../../core/tenant.ts";
import type { KubeObject } from "../../kube/types.ts";
import { API_VERSION_MODEL_POOL, TENANT_LABEL } from "../../kube/types.ts";
import { managedLabels, ownerRef, type TenantObject } from "../context.ts";

export function renderTenantModelPool(owner: TenantObject, tenant: Tenant, gpuResource: string): KubeObject {
  const d = tenant.spec.dedicated!;
  const spec: ModelPoolSpecInput = {
    model: d.model ?? tenant.spec.models[0]!,
    replicas: d.replicas,
    gpusPerReplica: d.gpusPerReplica,
    gpuResource,
    serviceAccountName: DEDICATED_POOL,
    ...(d.modelSource ? { modelSource: d.modelSource } : {}),
    ...(d.image ? { image: d.image } : {}),
    ...(d.maxLoras !== undefined ? { maxLoras: d.maxLoras } : {}),
    ...(d.maxLoraRank !== undefined ? { maxLoraRank: d.maxLoraRank } : {}),
    ...(d.maxCpuLoras !== undefined ? { maxCpuLoras: d.maxCpuLoras } : {}),
    ...(d.resources ? { resources: d.resources } : {}),
    ...(d.nodeSelector ? { nodeSelector: d.nodeSelector } : {}),
    ...(d.tolerations ? { tolerations: d.tolerations } : {}),
    ...(tenant.spec.storage?.bucket ? { agent: { bucket: tenant.spec.storage.bucket } } : {}),
  };
  return {
    apiVersion: API_VERSION_MODEL_POOL,
    kind: "ModelPool",
    metadata: {
      name: DEDICATED_POOL,
      namespace: tenantNamespace(tenant.metadata.name),
      labels: managedLabels({ [TENANT_LABEL]: tenant.metadata.name }),
      ownerReferences: [ownerRef(owner)],
    },
    spec,
  };
}
