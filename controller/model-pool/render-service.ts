// The Service the router discovers a pool by (router contract): "<pool>-engine" in the pool's
// namespace, labelled loraplex.io/pool=<pool>, ports named "http" (vLLM) and "agent". Headless:
// the router picks replicas itself from the EndpointSlices and never goes through a cluster IP,
// so none is allocated (a cluster with thousands of tenants would exhaust its service range).
import { engineName } from "../../core/cluster-layout.ts";
import { AGENT_PORT, ENGINE_PORT } from "../../core/model-pool.ts";
import type { KubeObject } from "../../kube/types.ts";
import type { ModelPoolObject } from "../context.ts";
import { ownerRef } from "../context.ts";
import { poolLabels, poolSelector } from "./render-deployment.ts";

export function renderService(mp: ModelPoolObject): KubeObject {
  const pool = mp.metadata.name!;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: engineName(pool),
      namespace: mp.metadata.namespace,
      labels: poolLabels(mp),
      ownerReferences: [ownerRef(mp)],
    },
    spec: {
      type: "ClusterIP",
      clusterIP: "None",
      selector: poolSelector(pool),
      ports: [
        { name: "http", port: ENGINE_PORT, targetPort: "http", protocol: "TCP" },
        { name: "agent", port: AGENT_PORT, targetPort: "agent", protocol: "TCP" },
      ],
    },
  };
}
