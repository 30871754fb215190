// List-then-watch cache of one resource type (optionally one namespace), on the client in
// client.ts. Reconcilers read only from these caches, so a reconcile that finds nothing to
// change costs no API request at all; the router's Tenant and EndpointSlice sources use the same
// cache. It never gives up: a failed list or watch is retried with capped backoff.
import type { Logger } from "../core/log.ts";
import { sleep } from "../core/sleep.ts";
import { KubeApiError, type KubeClient, type WatchEvent } from "./client.ts";
import { apiVersionOf, type KubeObject, keyOf, objectKey, type ResourceType } from "./types.ts";

export type InformerEvent = "add" | "update" | "delete";
/** `own` is true for objects the controller just wrote itself (see remember()). */
export type InformerHandler<T extends KubeObject> = (
  type: InformerEvent,
  obj: T,
  old: T | undefined,
  own: boolean,
) => void;

export interface Informer<T extends KubeObject> {
  readonly resource: ResourceType;
  get(name: string, namespace?: string): T | undefined;
  list(): T[];
  /**
   * Records an object the controller itself just wrote, unless the cache already holds a newer
   * one; an object whose last finalizer that write removed leaves the cache.
   */
  remember(obj: T): void;
  /** Resolves once the first full list is in the cache. */
  synced: Promise<void>;
}

const PAGE_SIZE = 500;
const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** Numeric comparison where both are numbers (etcd revisions in practice), else "different means newer". */
function isNewer(candidate: string | undefined, current: string | undefined): boolean {
  if (!current) return true;
  if (!candidate) return false;
  if (/^\d+$/.test(candidate) && /^\d+$/.test(current)) return BigInt(candidate) > BigInt(current);
  return candidate !== current;
}

export function startInformer<T extends KubeObject>(opts: {
  client: KubeClient;
  resource: ResourceType;
  /** Only this namespace's objects (a namespaced watch needs no cluster-wide permission). */
  namespace?: string;
  labelSelector?: string;
  onEvent: InformerHandler<T>;
  /** Called after the first list and after every relist (e.g. to publish an empty result). */
  onSync?: () => void;
  /** Called with every failed list or watch, before the retry. */
  onError?: (err: Error) => void;
  log?: Logger;
  signal: AbortSignal;
}): Informer<T> {
  const { client, resource, signal, log } = opts;
  const store = new Map<string, T>();
  let resourceVersion = "";
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => {
    markSynced = r;
  });

  // Objects the controller's own write removed (see remember()), with the resourceVersion that
  // write was answered with: watch events that old may still be on their way and must not bring
  // the object back into the cache.
  const removed = new Map<string, string | undefined>();

  const put = (obj: T, own = false) => {
    const key = keyOf(obj);
    if (removed.has(key)) {
      if (!isNewer(obj.metadata.resourceVersion, removed.get(key))) return;
      removed.delete(key);
    }
    const old = store.get(key);
    if (old && !isNewer(obj.metadata.resourceVersion, old.metadata.resourceVersion)) return;
    store.set(key, obj);
    opts.onEvent(old ? "update" : "add", obj, old, own);
  };

  async function relist(): Promise<void> {
    const seen = new Set<string>();
    let cont: string | undefined;
    do {
      const page = await client.list<T>(resource, {
        namespace: opts.namespace,
        labelSelector: opts.labelSelector,
        limit: PAGE_SIZE,
        continue: cont,
      });
      for (const item of page.items) {
        // List items carry no apiVersion/kind; the reconcilers' renderers expect them.
        item.apiVersion ??= apiVersionOf(resource);
        item.kind ??= resource.kind;
        seen.add(keyOf(item));
        put(item);
      }
      resourceVersion = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    for (const [key, obj] of store) {
      if (!seen.has(key)) {
        store.delete(key);
        opts.onEvent("delete", obj, undefined, false);
      }
    }
    opts.onSync?.();
  }

  function onWatchEvent(e: WatchEvent<T>): void {
    if (e.type === "BOOKMARK") {
      resourceVersion = e.object.metadata.resourceVersion ?? resourceVersion;
      return;
    }
    resourceVersion = e.object.metadata.resourceVersion ?? resourceVersion;
    if (e.type === "DELETED") {
      const key = keyOf(e.object);
      const old = store.get(key);
      store.delete(key);
      // Already reported when our own write removed it.
      if (removed.delete(key) && !old) return;
      opts.onEvent("delete", old ?? e.object, undefined, false);
    } else {
      put(e.object);
    }
  }

  void (async () => {
    let needList = true;
    let retryMs = MIN_RETRY_MS;
    while (!signal.aborted) {
      try {
        if (needList) {
          await relist();
          needList = false;
          markSynced();
        }
        await client.watch<T>(
          resource,
          { namespace: opts.namespace, labelSelector: opts.labelSelector, resourceVersion },
          onWatchEvent,
          signal,
        );
        retryMs = MIN_RETRY_MS;
      } catch (err) {
        if (signal.aborted) break;
        // 410 Gone: our resourceVersion is older than etcd's compaction window; start over.
        if (err instanceof KubeApiError && err.status === 410) {
          needList = true;
          continue;
        }
        opts.onError?.(err as Error);
        log?.warn(
          { err: (err as Error).message, resource: resource.plural, retryMs },
          "list/watch failed; retrying",
        );
        await sleep(retryMs, signal);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
        if (err instanceof KubeApiError && err.status >= 400) needList = true;
      }
    }
  })();

  return {
    resource,
    synced,
    get: (name, namespace) => store.get(objectKey(resource.namespaced ? namespace : undefined, name)),
    list: () => [...store.values()],
    remember(obj: T) {
      obj.apiVersion ??= apiVersionOf(resource);
      obj.kind ??= resource.kind;
      // A write that took the last finalizer off an object being deleted removed it, yet the API
      // server answers with the object's previous resourceVersion, which the cache already holds:
      // without this, a reconcile queued meanwhile would still find the finalizer (a Tenant would
      // be erased twice).
      if (obj.metadata.deletionTimestamp && !obj.metadata.finalizers?.length) {
        const key = keyOf(obj);
        removed.set(key, obj.metadata.resourceVersion);
        const old = store.get(key);
        if (old) {
          store.delete(key);
          opts.onEvent("delete", old, undefined, true);
        }
        return;
      }
      // Handlers run now, as for a watch event (a ModelPool created by a Tenant's reconcile must
      // get its own reconcile); the watch event for the same version then finds nothing new.
      put(obj, true);
    },
  };
}
