// How replicas become known: a static list (local mode) or EndpointSlices (in a cluster). Both
// report the full current set of endpoints of one pool whenever it changes.

import type { EngineEndpoint } from "../../kube/engine-endpoints.ts";

export type { EngineEndpoint };

export type OnEndpoints = (poolRef: string, endpoints: readonly EngineEndpoint[]) => void;

export interface Discovery {
  /** Starts watching a pool (idempotent); resolves once its first endpoint set is known. */
  watch(poolRef: string): Promise<void>;
  close(): Promise<void>;
}
