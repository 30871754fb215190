// The dedicated tenant's namespace. Pod Security: "baseline" is enforced because the stock
// vllm/vllm-openai image runs as root, which "restricted" forbids; baseline still blocks what
// would let a tenant's pod escape its namespace (privileged, host namespaces/paths/ports, added
// capabilities). "restricted" is warned and audited, so anything else that falls short shows up.

import { tenantNamespace } from "../../core/cluster-layout.ts";
import type { KubeObject } from "../../kube/types.ts";
import { TENANT_LABEL } from "../../kube/types.ts";
import { type ControllerConfig, managedLabels, ownerRef, type TenantObject } from "../context.ts";

export function renderNamespace(tenant: TenantObject, config: ControllerConfig): KubeObject {
  const name = tenant.metadata.name!;
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: tenantNamespace(name),
      labels: managedLabels({
        [TENANT_LABEL]: name,
        "pod-security.kubernetes.io/enforce": config.podSecurityLevel,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
      }),
      ownerReferences: [ownerRef(tenant)],
    },
  };
}

/** Our namespace for this tenant, judged by the label we put on it: never touch anyone else's. */
export function isTenantNamespace(ns: KubeObject | undefined, tenant: string): ns is KubeObject {
  return ns?.metadata.labels?.[TENANT_LABEL] === tenant;
}
