// At most one engine replica of a pool goes down for voluntary disruptions (node drains), so a
// drain cannot take a whole pool, and its resident adapters, away at once.

import { engineName } from "../../core/cluster-layout.ts";
import type { KubeObject } from "../../kube/types.ts";
import type { ModelPoolObject } from "../context.ts";
import { ownerRef } from "../context.ts";
import { poolLabels, poolSelector } from "./render-deployment.ts";

export function renderPodDisruptionBudget(mp: ModelPoolObject): KubeObject {
  const pool = mp.metadata.name!;
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: {
      name: engineName(pool),
      namespace: mp.metadata.namespace,
      labels: poolLabels(mp),
      ownerReferences: [ownerRef(mp)],
    },
    spec: { maxUnavailable: 1, selector: { matchLabels: poolSelector(pool) } },
  };
}
