// The Kubernetes API client every component uses, on @kubernetes/client-node: requests go
// through the library's generic object API (discovery-resolved paths, its authenticated
// transport) and watches through its Watch. What this layer adds is what the controller needs
// from every call: one field manager, server-side apply, errors that carry the HTTP status, and
// an observer that sees every request (the controller counts its writes: a no-op reconcile
// writes nothing, and tests prove it).
import { ApiException, HttpMethod, type KubeConfig, PatchStrategy, Watch } from "@kubernetes/client-node";
import { type ObjectRef, RawObjectApi, type StatusBody } from "./object-api.ts";
import { apiVersionOf, type KubeObject, type ResourceType } from "./types.ts";

const FIELD_MANAGER = "loraplex-controller";

export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
  }
}

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";
export const WRITE_VERBS: ReadonlySet<Verb> = new Set(["create", "update", "patch", "delete"]);

export type RequestObserver = (verb: Verb, resource: string, status: number, seconds: number) => void;

export type ListQuery = {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
};
export type ListResult<T> = { items: T[]; metadata: { resourceVersion: string; continue?: string } };
export type WatchEvent<T> = { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"; object: T };
export type WatchQuery = { namespace?: string; labelSelector?: string; resourceVersion?: string };

export interface KubeClient {
  get<T extends KubeObject>(rt: ResourceType, name: string, namespace?: string): Promise<T | undefined>;
  list<T extends KubeObject>(rt: ResourceType, query?: ListQuery): Promise<ListResult<T>>;
  create<T extends KubeObject>(rt: ResourceType, obj: KubeObject): Promise<T>;
  /** PUT; with `subresource: "status"` replaces only the status (optimistic concurrency on resourceVersion). */
  replace<T extends KubeObject>(rt: ResourceType, obj: KubeObject, subresource?: string): Promise<T>;
  /** Server-side apply as the client's field manager, taking ownership of conflicting fields. */
  apply<T extends KubeObject>(rt: ResourceType, obj: KubeObject): Promise<T>;
  /** RFC 6902 JSON patch (used with a "test" op for compare-and-swap edits of lists). */
  jsonPatch<T extends KubeObject>(
    rt: ResourceType,
    name: string,
    namespace: string | undefined,
    ops: unknown[],
  ): Promise<T>;
  /** Returns false when the object was already gone. */
  delete(rt: ResourceType, name: string, namespace?: string, propagationPolicy?: string): Promise<boolean>;
  /**
   * One watch request: events until the server ends it (or the library's inactivity timeout
   * does), then resolves; rejects on an error, including an ERROR event such as 410 Gone.
   */
  watch<T extends KubeObject>(
    rt: ResourceType,
    query: WatchQuery,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

// The server ends each watch after this long; spread so that watches do not renew together.
const watchSeconds = () => String(240 + Math.floor(Math.random() * 120));

export function createKubeClient(
  kc: KubeConfig,
  opts: { observe?: RequestObserver; fieldManager?: string } = {},
): KubeClient {
  const { observe } = opts;
  const fieldManager = opts.fieldManager ?? FIELD_MANAGER;
  const api = kc.makeApiClient(RawObjectApi);
  const watcher = new Watch(kc);
  const ref = (rt: ResourceType, name?: string, namespace?: string): ObjectRef => ({
    apiVersion: apiVersionOf(rt),
    kind: rt.kind,
    name,
    namespace: rt.namespaced ? namespace : undefined,
  });

  /** Runs one request, reports it to the observer, and turns API errors into KubeApiError. */
  async function call<T>(verb: Verb, rt: ResourceType, what: string, send: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await send();
      observe?.(verb, rt.plural, 200, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      if (!(err instanceof ApiException)) throw err;
      observe?.(verb, rt.plural, err.code, (performance.now() - started) / 1000);
      const body = (err.body ?? {}) as StatusBody;
      throw new KubeApiError(
        err.code,
        body.reason ?? "Unknown",
        `${what}: ${err.code} ${body.message ?? ""}`,
      );
    }
  }
  const nameOf = (obj: KubeObject) =>
    `${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ""}${obj.metadata.name ?? obj.metadata.generateName ?? ""}`;
  const refOf = (rt: ResourceType, obj: KubeObject) => ref(rt, obj.metadata.name, obj.metadata.namespace);

  return {
    async get<T extends KubeObject>(rt: ResourceType, name: string, namespace?: string) {
      try {
        return await call("get", rt, `get ${rt.plural} ${name}`, () =>
          api.send<T>({ method: HttpMethod.GET, action: "read", ref: ref(rt, name, namespace) }),
        );
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    list<T extends KubeObject>(rt: ResourceType, query: ListQuery = {}) {
      return call("list", rt, `list ${rt.plural}`, () =>
        api.send<ListResult<T>>({
          method: HttpMethod.GET,
          action: "list",
          ref: ref(rt, undefined, query.namespace),
          query: {
            labelSelector: query.labelSelector || undefined,
            fieldSelector: query.fieldSelector || undefined,
            limit: query.limit === undefined ? undefined : String(query.limit),
            continue: query.continue,
          },
        }),
      );
    },
    create<T extends KubeObject>(rt: ResourceType, obj: KubeObject) {
      return call("create", rt, `create ${rt.plural} ${nameOf(obj)}`, () =>
        api.send<T>({
          method: HttpMethod.POST,
          action: "create",
          ref: ref(rt, undefined, obj.metadata.namespace),
          query: { fieldManager },
          body: obj,
        }),
      );
    },
    replace<T extends KubeObject>(rt: ResourceType, obj: KubeObject, subresource?: string) {
      return call(
        "update",
        rt,
        `update ${rt.plural}${subresource ? `/${subresource}` : ""} ${nameOf(obj)}`,
        () =>
          api.send<T>({
            method: HttpMethod.PUT,
            action: "replace",
            ref: refOf(rt, obj),
            subresource,
            query: { fieldManager },
            body: obj,
          }),
      );
    },
    apply<T extends KubeObject>(rt: ResourceType, obj: KubeObject) {
      return call("patch", rt, `apply ${rt.plural} ${nameOf(obj)}`, () =>
        api.send<T>({
          method: HttpMethod.PATCH,
          action: "patch",
          ref: refOf(rt, obj),
          query: { fieldManager, force: "true" },
          body: obj, // JSON is YAML, which the apply patch type accepts
          contentType: PatchStrategy.ServerSideApply,
        }),
      );
    },
    jsonPatch<T extends KubeObject>(
      rt: ResourceType,
      name: string,
      namespace: string | undefined,
      ops: unknown[],
    ) {
      return call("patch", rt, `patch ${rt.plural} ${name}`, () =>
        api.send<T>({
          method: HttpMethod.PATCH,
          action: "patch",
          ref: ref(rt, name, namespace),
          query: { fieldManager },
          body: ops,
          contentType: PatchStrategy.JsonPatch,
        }),
      );
    },
    async delete(rt: ResourceType, name: string, namespace?: string, propagationPolicy?: string) {
      try {
        await call("delete", rt, `delete ${rt.plural} ${name}`, () =>
          api.send({
            method: HttpMethod.DELETE,
            action: "delete",
            ref: ref(rt, name, namespace),
            query: { propagationPolicy },
          }),
        );
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return false;
        throw err;
      }
    },
    async watch<T extends KubeObject>(
      rt: ResourceType,
      query: WatchQuery,
      onEvent: (e: WatchEvent<T>) => void,
      signal: AbortSignal,
    ) {
      const path = await api.collectionPath(ref(rt, undefined, query.namespace));
      const started = performance.now();
      // An exception thrown by a handler (the library would swallow it) ends the watch instead.
      let failure: unknown;
      await new Promise<void>((resolve, reject) => {
        let stop: AbortController | undefined;
        let ended = false;
        const abort = () => stop?.abort();
        const done = (err: unknown) => {
          ended = true;
          signal.removeEventListener("abort", abort);
          const status = (err as { statusCode?: number } | null)?.statusCode;
          observe?.("watch", rt.plural, status ?? 200, (performance.now() - started) / 1000);
          const e = failure ?? err;
          // The library ends a silent watch after its inactivity timeout: a normal end here.
          if (!e || signal.aborted || (e as Error).name === "TimeoutError") resolve();
          else if (status)
            reject(
              new KubeApiError(
                status,
                "WatchFailed",
                `watch ${rt.plural}: ${status} ${(e as Error).message}`,
              ),
            );
          else reject(e);
        };
        const handle = (type: string, object: unknown) => {
          if (failure) return;
          try {
            if (type === "ERROR") {
              const s = object as StatusBody;
              throw new KubeApiError(s.code ?? 500, s.reason ?? "WatchError", s.message ?? "watch error");
            }
            onEvent({ type, object } as WatchEvent<T>);
          } catch (err) {
            failure = err;
            abort();
          }
        };
        watcher
          .watch(
            path,
            {
              labelSelector: query.labelSelector || undefined,
              resourceVersion: query.resourceVersion || undefined,
              allowWatchBookmarks: true,
              timeoutSeconds: watchSeconds(),
            },
            handle,
            done,
          )
          .then((controller) => {
            stop = controller;
            if (ended) return;
            if (signal.aborted || failure) controller.abort();
            else signal.addEventListener("abort", abort, { once: true });
          }, reject);
      });
    },
  };
}
