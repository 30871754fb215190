// In a cluster: the router watches Tenant resources (loraplex.io/v1alpha1, cluster-scoped) with
// an informer and mirrors them into the store. The client library's informer does not restart
// after an error, so this source restarts it with capped exponential backoff.
import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
} from "@kubernetes/client-node";
import type { Logger } from "../core/log.ts";
import { API_GROUP, API_VERSION } from "../core/tenant.ts";
import type { MutableTenantStore, TenantSource } from "./tenant-store.ts";

const PLURAL = "tenants";
const DEFAULT_SYNC_TIMEOUT_MS = 60_000;
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

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
  const api = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  const list = () =>
    api.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: PLURAL }) as Promise<
      KubernetesListObject<KubernetesObject>
    >;
  const informer = makeInformer(opts.kubeConfig, `/apis/${API_GROUP}/${API_VERSION}/${PLURAL}`, list);

  const upsert = (obj: KubernetesObject) => {
    const name = obj.metadata?.name;
    if (name) store.applyDocument(name, `tenants.${API_GROUP}/${name}`, obj);
  };
  informer.on("add", upsert);
  informer.on("update", upsert);
  informer.on("delete", (obj) => {
    if (obj.metadata?.name) store.remove(obj.metadata.name);
  });

  let synced = false;
  let stopped = false;
  let failedThisAttempt = false;
  let backoff = MIN_BACKOFF_MS;
  let retry: NodeJS.Timeout | undefined;
  let lastError = "";

  const attempt = async () => {
    failedThisAttempt = false;
    await informer.start();
    // start() resolves after the list and the watch request, or after reporting an error.
    if (!failedThisAttempt && !stopped) {
      synced = true;
      backoff = MIN_BACKOFF_MS;
    }
  };
  informer.on("error", (err: unknown) => {
    failedThisAttempt = true;
    lastError = describe(err);
    if (stopped) return;
    log?.warn({ err: lastError, retryInMs: backoff }, "Tenant watch failed; restarting");
    clearTimeout(retry);
    retry = setTimeout(() => void attempt().catch(() => {}), backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  });

  const source: K8sTenantSource = {
    isSynced: () => synced,
    async close() {
      stopped = true;
      clearTimeout(retry);
      await informer.stop();
    },
  };

  await attempt();
  const deadline = Date.now() + (opts.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS);
  while (!synced) {
    if (Date.now() > deadline) {
      await source.close();
      throw new Error(
        `could not list ${PLURAL}.${API_GROUP}/${API_VERSION} (${lastError}); is the Tenant CRD installed?`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  log?.info({ tenants: store.list().length }, "Tenant informer synced");
  return source;
}

function describe(err: unknown): string {
  if (err && typeof err === "object") {
    const e = err as { code?: number; statusCode?: number; message?: string; body?: unknown };
    const status = e.code ?? e.statusCode;
    return [status, e.message].filter((x) => x !== undefined).join(" ") || String(err);
  }
  return String(err);
}
