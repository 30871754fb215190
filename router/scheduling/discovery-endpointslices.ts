// In a cluster: the replicas of pool "<ns>/<pool>" are the ready endpoints of the EndpointSlices
// of Service "<pool>-engine" in namespace <ns> — one namespaced informer per pool, never a
// cluster-wide watch, so a same-named Service in another namespace can never leak in (GIE #1869).
import {
  DiscoveryV1Api,
  type Informer,
  KubeConfig,
  makeInformer,
  type ObjectCache,
  type V1EndpointSlice,
} from "@kubernetes/client-node";
import { engineName, parsePoolRef } from "../../core/cluster-layout.ts";
import type { Logger } from "../../core/log.ts";
import type { Discovery, EngineEndpoint, OnEndpoints } from "./discovery.ts";

export type KubeOptions = { kubeconfigPath?: string; inCluster?: boolean };

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
const ENGINE_PORT = "http";
const AGENT_PORT = "agent";
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

export function loadKubeConfig(opts: KubeOptions): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else if (opts.inCluster) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The ready endpoints of a Service's slices, each with its engine and agent port. */
export function endpointsFromSlices(
  slices: readonly V1EndpointSlice[],
  namespace: string,
  service: string,
): EngineEndpoint[] {
  const out: EngineEndpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    // The watch is already scoped; checking again costs nothing and keeps the gate local.
    if (slice.metadata?.namespace !== namespace) continue;
    if (slice.metadata?.labels?.[SERVICE_NAME_LABEL] !== service) continue;
    // FQDN slices name hosts instead of IPs (e.g. engines outside the cluster network).
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6" && slice.addressType !== "FQDN")
      continue;
    const http = slice.ports?.find((p) => p.name === ENGINE_PORT)?.port;
    const agent = slice.ports?.find((p) => p.name === AGENT_PORT)?.port;
    if (http === undefined || agent === undefined) continue;
    for (const ep of slice.endpoints ?? []) {
      // Kubernetes: an unset `ready` means unknown and is to be treated as ready.
      if (ep.conditions?.ready === false || ep.conditions?.terminating === true) continue;
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

export function createEndpointSliceDiscovery(
  kube: KubeOptions,
  onEndpoints: OnEndpoints,
  logger: Logger,
): Discovery {
  const kc = loadKubeConfig(kube);
  const api = kc.makeApiClient(DiscoveryV1Api);
  const watched = new Map<string, { informer: Informer<V1EndpointSlice>; synced: Promise<void> }>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  function watchPool(poolRef: string): Promise<void> {
    const existing = watched.get(poolRef);
    if (existing) return existing.synced;
    const { namespace, name } = parsePoolRef(poolRef);
    const service = engineName(name);
    const labelSelector = `${SERVICE_NAME_LABEL}=${service}`;
    const informer: Informer<V1EndpointSlice> & ObjectCache<V1EndpointSlice> = makeInformer(
      kc,
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      () => api.listNamespacedEndpointSlice({ namespace, labelSelector }),
      labelSelector,
    );
    const publish = () =>
      onEndpoints(poolRef, endpointsFromSlices(informer.list(namespace), namespace, service));
    informer.on("add", publish);
    informer.on("update", publish);
    informer.on("delete", publish);

    let retryMs = RETRY_MIN_MS;
    let errors = 0;
    // start() resolves after the first list and watch request (or after a failed list, which
    // then retries below). Publishing after a clean start also covers a pool with no slices,
    // which produces no add events.
    const start = async () => {
      const before = errors;
      await informer.start();
      if (errors === before && !closed) {
        retryMs = RETRY_MIN_MS;
        publish();
      }
    };
    // The informer stops on a list/watch error other than a timeout; restart it with backoff.
    informer.on("error", (err: unknown) => {
      errors++;
      if (closed) return;
      logger.warn({ pool: poolRef, err: String(err), retryMs }, "EndpointSlice watch failed; retrying");
      const t = setTimeout(() => {
        timers.delete(t);
        if (!closed) void start();
      }, retryMs);
      timers.add(t);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    });
    const synced = start();
    watched.set(poolRef, { informer, synced });
    return synced;
  }

  return {
    watch: watchPool,
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      await Promise.all([...watched.values()].map((w) => w.informer.stop()));
      watched.clear();
    },
  };
}
