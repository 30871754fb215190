// In a cluster: the router (and the trainer) watch Tenant resources (loraplex.io/v1alpha1,
// cluster-scoped) through kube/'s informer and mirror them into the store. The informer retries
// failed lists and watches by itself; this source only bounds how long the first list may take.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../core/log.ts";
import { API_GROUP, API_VERSION } from "../core/tenant.ts";
import { createKubeClient } from "../kube/client.ts";
import { startInformer } from "../kube/informer.ts";
import { type KubeObject, R } from "../kube/types.ts";
import type { MutableTenantStore, TenantSource } from "./tenant-store.ts";

const DEFAULT_SYNC_TIMEOUT_MS = 60_000;

export type K8sTenantSource = TenantSource & { isSynced(): boolean };

/**
 * Resolves after the first complete list of Tenants is in the store; rejects (and stops) when
 * that has not happened within `syncTimeoutMs`, e.g. when the CRD is not installed.
 */
export async function startK8sTenantSource(opts: {
  kubeConfig: KubeConfig;
  store: MutableTenantStore;
  log?: Logger;
  syncTimeoutMs?: number;
}): Promise<K8sTenantSource> {
  const { store, log } = opts;
  const stop = new AbortController();
  let synced = false;
  let lastError = "no answer yet";
  const informer = startInformer<KubeObject>({
    client: createKubeClient(opts.kubeConfig),
    resource: R.tenants,
    onEvent(type, obj) {
      const name = obj.metadata.name;
      if (!name) return;
      if (type === "delete") store.remove(name);
      else store.applyDocument(name, `tenants.${API_GROUP}/${name}`, obj);
    },
    onError(err) {
      lastError = err.message;
    },
    log,
    signal: stop.signal,
  });

  const source: K8sTenantSource = {
    isSynced: () => synced,
    async close() {
      stop.abort();
    },
  };

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), opts.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS);
  });
  const first = await Promise.race([informer.synced.then(() => "synced" as const), timedOut]);
  clearTimeout(timer);
  if (first === "timeout") {
    await source.close();
    throw new Error(
      `could not list ${R.tenants.plural}.${API_GROUP}/${API_VERSION} (${lastError}); is the Tenant CRD installed?`,
    );
  }
  synced = true;
  log?.info({ tenants: store.list().length }, "Tenant informer synced");
  return source;
}
