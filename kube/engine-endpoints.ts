// The engine replicas behind a pool's Service, read from its EndpointSlices (router contract: ports
// named "http" for the engine and "agent" for the adapter agent). The router routes to the ready
// ones; the controller's erasure reaches every agent that may still hold a tenant's adapters,
// ready or not, so both read slices through this one function.
import type { V1EndpointSlice } from "@kubernetes/client-node";

export type EngineEndpoint = { engineUrl: string; agentUrl: string };

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
const ENGINE_PORT = "http";
const AGENT_PORT = "agent";

function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

export type SliceFilter = {
  namespace: string;
  /** Only this Service's slices; every engine Service of the namespace when omitted. */
  service?: string;
  /** Also endpoints that are not ready (a starting or unhealthy replica still has its disk). */
  includeNotReady?: boolean;
};

/** The endpoints of engine Service slices, each with its engine and agent URL; never a terminating one. */
export function endpointsFromSlices(
  slices: readonly V1EndpointSlice[],
  filter: SliceFilter,
): EngineEndpoint[] {
  const out: EngineEndpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    // Watches and lists are already scoped; checking again costs nothing and keeps the gate local.
    if (slice.metadata?.namespace !== filter.namespace) continue;
    if (filter.service !== undefined && slice.metadata?.labels?.[SERVICE_NAME_LABEL] !== filter.service)
      continue;
    // FQDN slices name hosts instead of IPs (e.g. engines outside the cluster network).
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6" && slice.addressType !== "FQDN")
      continue;
    const http = slice.ports?.find((p) => p.name === ENGINE_PORT)?.port;
    const agent = slice.ports?.find((p) => p.name === AGENT_PORT)?.port;
    if (http === undefined || agent === undefined) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.terminating === true) continue;
      // Kubernetes: an unset `ready` means unknown and is to be treated as ready.
      if (!filter.includeNotReady && ep.conditions?.ready === false) continue;
      const address = ep.addresses[0];
      if (!address) continue;
      const engineUrl = `http://${hostPort(address, http)}`;
      if (seen.has(engineUrl)) continue;
      seen.add(engineUrl);
      out.push({ engineUrl, agentUrl: `http://${hostPort(address, agent)}` });
    }
  }
  return out;
}
