// Purge of a deleted tenant's adapters from the shared engines: every adapter agent in the system
// namespace (found through its pool Service's EndpointSlices, the same contract the router routes
// by) is asked to erase the tenant's adapters — unload them from its engine and delete them from
// its disk cache. Dedicated engines need no call: they go with the tenant's namespace.
//
// Replicas that are not ready are asked too (a starting or unhealthy engine's agent keeps its disk
// and reloads it when the engine is back); terminating ones are not (their emptyDir goes with
// them). The agent's erase is idempotent, so a retry after a partial failure asks every agent
// again and the ones already done answer 0. Any agent that cannot be told fails the purge, and the
// finalizer keeps the Tenant until a retry reaches them all.

import type { V1EndpointSlice } from "@kubernetes/client-node";
import { createAgentClient } from "../../agent-api/client.ts";
import type { KubeClient } from "../../kube/client.ts";
import { endpointsFromSlices } from "../../kube/engine-endpoints.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import type { AdapterPurge } from "./eraser.ts";

/** Per agent call: an unload on a busy engine takes a while, a hung agent must not hold the worker. */
const AGENT_TIMEOUT_MS = 30_000;

export async function purgeSharedAdapters(
  deps: { client: KubeClient; systemNamespace: string },
  tenant: string,
): Promise<AdapterPurge> {
  const slices = await deps.client.list<KubeObject & V1EndpointSlice>(R.endpointSlices, {
    namespace: deps.systemNamespace,
  });
  const endpoints = endpointsFromSlices(slices.items, {
    namespace: deps.systemNamespace,
    includeNotReady: true,
  });
  const outcomes = await Promise.allSettled(
    endpoints.map(async ({ agentUrl }) => {
      const agent = createAgentClient(agentUrl, { connections: 1, timeoutMs: AGENT_TIMEOUT_MS });
      try {
        return (await agent.eraseTenant(tenant)).removed;
      } finally {
        await agent.close();
      }
    }),
  );
  let removed = 0;
  const failures: string[] = [];
  outcomes.forEach((o, i) => {
    if (o.status === "fulfilled") removed += o.value;
    else failures.push(`${endpoints[i]!.agentUrl}: ${(o.reason as Error).message}`);
  });
  if (failures.length > 0) {
    throw new Error(
      `purged ${removed} adapter(s) from ${endpoints.length - failures.length} of ${endpoints.length} shared agent(s); ` +
        `not reached: ${failures.join("; ")}`,
    );
  }
  return { agents: endpoints.length, removed };
}
