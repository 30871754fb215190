// Defaults for containers that declare no resources (the quota requires CPU and memory on
// every pod), so a stray pod gets small, bounded settings instead of being rejected.

import { tenantNamespace } from "../../core/cluster-layout.ts";
import type { KubeObject } from "../../kube/types.ts";
import { TENANT_LABEL } from "../../kube/types.ts";
import { managedLabels, ownerRef, type TenantObject } from "../context.ts";

export function renderLimitRange(owner: TenantObject): KubeObject {
  const name = owner.metadata.name!;
  return {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: {
      name: "tenant-limits",
      namespace: tenantNamespace(name),
      labels: managedLabels({ [TENANT_LABEL]: name }),
      ownerReferences: [ownerRef(owner)],
    },
    spec: {
      limits: [
        {
          type: "Container",
          default: { memory: "512Mi" },
          defaultRequest: { cpu: "100m", memory: "128Mi" },
        },
      ],
    },
  };
}
