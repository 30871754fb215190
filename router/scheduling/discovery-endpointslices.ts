// In a cluster: the replicas of pool "<ns>/<pool>" are the ready endpoints of the EndpointSlices
// of Service "<pool>-engine" in namespace <ns> — one namespaced informer per pool, never a
// cluster-wide watch, so a same-named Service in another namespace can never leak in (GIE #1869).
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { engineName, parsePoolRef } from "../../core/cluster-layout.ts";
import type { Logger } from "../../core/log.ts";
import { createKubeClient } from "../../kube/client.ts";
import { type KubeOptions, loadKubeConfig } from "../../kube/config.ts";
import { endpointsFromSlices, SERVICE_NAME_LABEL } from "../../kube/engine-endpoints.ts";
import { type Informer, startInformer } from "../../kube/informer.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import type { Discovery, OnEndpoints } from "./discovery.ts";

type Slice = KubeObject & V1EndpointSlice;

export function createEndpointSliceDiscovery(
  kube: KubeOptions,
  onEndpoints: OnEndpoints,
  logger: Logger,
): Discovery {
  const client = createKubeClient(loadKubeConfig(kube));
  const stop = new AbortController();
  const watched = new Map<string, Promise<void>>();

  function watchPool(poolRef: string): Promise<void> {
    const existing = watched.get(poolRef);
    if (existing) return existing;
    const { namespace, name } = parsePoolRef(poolRef);
    const service = engineName(name);
    const publish = () => onEndpoints(poolRef, endpointsFromSlices(informer.list(), { namespace, service }));
    // Resolves at the first list, or at the first failure (the informer keeps retrying): a pool
    // the router cannot see yet must not hold up whoever waits for it.
    let settle!: () => void;
    const first = new Promise<void>((resolve) => {
      settle = resolve;
    });
    // Every change publishes; so does the end of each list, which covers a pool with no slices.
    const informer: Informer<Slice> = startInformer<Slice>({
      client,
      resource: R.endpointSlices,
      namespace,
      labelSelector: `${SERVICE_NAME_LABEL}=${service}`,
      onEvent: publish,
      onSync: () => {
        publish();
        settle();
      },
      onError: settle,
      log: logger.child({ pool: poolRef }),
      signal: stop.signal,
    });
    watched.set(poolRef, first);
    return first;
  }

  return {
    watch: watchPool,
    async close() {
      stop.abort();
      watched.clear();
    },
  };
}
