// The dedicated namespace's ServiceAccount for engine pods (no API token mounted: vLLM and the
// agent never call the Kubernetes API) and the RoleBinding that gives the tenant's owners the
// shipped owner ClusterRole in that namespace only.
import { DEDICATED_POOL, tenantNamespace } from "../../core/cluster-layout.ts";
import type { Tenant } from "../../core/tenant.ts";
import type { KubeObject } from "../../kube/types.ts";
import { TENANT_LABEL } from "../../kube/types.ts";
import { type ControllerConfig, managedLabels, ownerRef, type TenantObject } from "../context.ts";

type Owner = Tenant["spec"]["owners"][number];
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why an owner cannot be a RoleBinding subject, or undefined when it can. */
export function ownerProblem(owner: Owner): string | undefined {
  if (owner.name.startsWith("system:")) {
    return `owner ${owner.kind} '${owner.name}': names starting with 'system:' belong to Kubernetes itself`;
  }
  if (owner.kind !== "ServiceAccount") return undefined;
  if (!owner.namespace) return `owner ServiceAccount '${owner.name}' needs a namespace`;
  if (owner.name.length > 253 || !DNS_SUBDOMAIN.test(owner.name)) {
    return `owner ServiceAccount '${owner.name}' is not a valid ServiceAccount name`;
  }
  if (owner.namespace.length > 63 || !DNS_LABEL.test(owner.namespace)) {
    return `owner ServiceAccount '${owner.name}': namespace '${owner.namespace}' is not a valid namespace name`;
  }
  return undefined;
}

export function renderServiceAccount(owner: TenantObject): KubeObject {
  const name = owner.metadata.name!;
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      name: DEDICATED_POOL,
      namespace: tenantNamespace(name),
      labels: managedLabels({ [TENANT_LABEL]: name }),
      ownerReferences: [ownerRef(owner)],
    },
    automountServiceAccountToken: false,
  };
}

export function renderOwnerRoleBinding(
  owner: TenantObject,
  owners: Owner[],
  config: ControllerConfig,
): KubeObject {
  const name = owner.metadata.name!;
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: {
      name: "tenant-owners",
      namespace: tenantNamespace(name),
      labels: managedLabels({ [TENANT_LABEL]: name }),
      ownerReferences: [ownerRef(owner)],
    },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: config.ownerClusterRole },
    subjects: owners.map((o) =>
      o.kind === "ServiceAccount"
        ? { kind: "ServiceAccount", name: o.name, namespace: o.namespace }
        : { kind: o.kind, name: o.name, apiGroup: "rbac.authorization.k8s.io" },
    ),
  };
}
