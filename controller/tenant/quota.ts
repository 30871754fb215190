// The dedicated namespace's ResourceQuota: exactly the GPUs, CPU and memory of the tenant's
// engine replicas (Deployments roll one pod at a time, without surge, so that is enough), and
// small object counts so the namespace cannot be used for anything else.
import { tenantNamespace } from "../../core/cluster-layout.ts";
import type { Tenant } from "../../core/tenant.ts";
import type { KubeObject } from "../../kube/types.ts";
import { TENANT_LABEL } from "../../kube/types.ts";
import { type ControllerConfig, managedLabels, ownerRef, type TenantObject } from "../context.ts";
import { enginePodResources } from "../model-pool/render-deployment.ts";
import { formatCpu, formatMemory } from "../quantity.ts";

export function renderResourceQuota(
  owner: TenantObject,
  tenant: Tenant,
  config: ControllerConfig,
): KubeObject {
  const d = tenant.spec.dedicated!;
  const per = enginePodResources({ resources: d.resources, agentResources: undefined });
  const replicas = d.replicas;
  const name = tenant.metadata.name;
  return {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: {
      name: "tenant-quota",
      namespace: tenantNamespace(name),
      labels: managedLabels({ [TENANT_LABEL]: name }),
      ownerReferences: [ownerRef(owner)],
    },
    spec: {
      hard: {
        [`requests.${config.gpuResource}`]: String(replicas * d.gpusPerReplica),
        "requests.cpu": formatCpu(replicas * per.cpuCores),
        "requests.memory": formatMemory(replicas * per.memoryBytes),
        "limits.memory": formatMemory(replicas * per.memoryBytes),
        pods: String(replicas + 2),
        services: "2",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
        secrets: "10",
        configmaps: "10",
        persistentvolumeclaims: "2",
      },
    },
  };
}
