// A dedicated namespace denies all traffic by default; engine pods accept connections only from
// the router (engine and agent ports), and pods may reach only cluster DNS (kube-dns Pods, and
// DNS servers outside Pods when configured) and object storage.
import { tenantNamespace } from "../../core/cluster-layout.ts";
import { AGENT_PORT, ENGINE_PORT } from "../../core/model-pool.ts";
import type { KubeObject } from "../../kube/types.ts";
import { TENANT_LABEL } from "../../kube/types.ts";
import { type ControllerConfig, managedLabels, ownerRef, type TenantObject } from "../context.ts";
import { ENGINE_APP_LABELS } from "../model-pool/render-deployment.ts";

const NS_NAME_LABEL = "kubernetes.io/metadata.name"; // set by the API server on every namespace

export function renderNetworkPolicies(owner: TenantObject, config: ControllerConfig): KubeObject[] {
  const name = owner.metadata.name!;
  const meta = (policy: string) => ({
    name: policy,
    namespace: tenantNamespace(name),
    labels: managedLabels({ [TENANT_LABEL]: name }),
    ownerReferences: [ownerRef(owner)],
  });
  const policy = (policyName: string, spec: Record<string, unknown>): KubeObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(policyName),
    spec,
  });
  const egress: Record<string, unknown>[] = [
    {
      to: [
        {
          namespaceSelector: { matchLabels: { [NS_NAME_LABEL]: "kube-system" } },
          podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
        },
        ...config.dnsEgressCidrs.map((cidr) => ({ ipBlock: { cidr } })),
      ],
      ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
      ],
    },
  ];
  if (config.s3EgressCidrs.length > 0) {
    egress.push({
      to: config.s3EgressCidrs.map((cidr) => ({ ipBlock: { cidr } })),
      ports: [{ protocol: "TCP", port: config.s3Port }],
    });
  }
  return [
    policy("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    policy("allow-router-to-engine", {
      podSelector: { matchLabels: ENGINE_APP_LABELS },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { [NS_NAME_LABEL]: config.systemNamespace } },
              podSelector: { matchLabels: config.routerPodLabels },
            },
          ],
          ports: [
            { protocol: "TCP", port: ENGINE_PORT },
            { protocol: "TCP", port: AGENT_PORT },
          ],
        },
      ],
    }),
    policy("allow-dns-and-storage-egress", { podSelector: {}, policyTypes: ["Egress"], egress }),
  ];
}
