// A small Kubernetes REST client for the controller. The client library's generated APIs do not
// expose server-side apply ergonomically, and the controller must count every write it makes
// (a no-op reconcile writes nothing, and tests prove it), so every request goes through one
// place here. Authentication and TLS come from @kubernetes/client-node's KubeConfig.
import { KubeConfig } from "@kubernetes/client-node";
import { Agent, request } from "undici";
import type { KubeObject, ResourceType } from "./types.ts";

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

export type ListResult<T> = { items: T[]; metadata: { resourceVersion: string; continue?: string } };
export type WatchEvent<T> = { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"; object: T };

export interface KubeClient {
  readonly server: string;
  get<T extends KubeObject>(rt: ResourceType, name: string, namespace?: string): Promise<T | undefined>;
  list<T extends KubeObject>(
    rt: ResourceType,
    query?: Record<string, string | undefined>,
  ): Promise<ListResult<T>>;
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
  delete(rt: ResourceType, name: string, namespace?: string, body?: unknown): Promise<boolean>;
  /** Streams watch events until the server ends the watch or `signal` aborts. */
  watch<T extends KubeObject>(
    rt: ResourceType,
    query: Record<string, string | undefined>,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /** POST to a subresource such as serviceaccounts/<name>/token. */
  post<T>(
    rt: ResourceType,
    name: string,
    namespace: string | undefined,
    subresource: string,
    body: unknown,
  ): Promise<T>;
  close(): Promise<void>;
}

export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, then the in-cluster service account
  if (!kc.getCurrentCluster()) throw new Error("kubeconfig has no current cluster");
  return kc;
}

function resourcePath(rt: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const ns = rt.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const n = name ? `/${encodeURIComponent(name)}` : "";
  return `${base}${ns}/${rt.plural}${n}${subresource ? `/${subresource}` : ""}`;
}

const HEADER_CACHE_MS = 30_000; // bound on how stale a rotated service-account token can be

export async function createKubeClient(
  kc: KubeConfig,
  opts: { observe?: RequestObserver; fieldManager?: string } = {},
): Promise<KubeClient> {
  const { observe } = opts;
  const fieldManager = opts.fieldManager ?? FIELD_MANAGER;
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const server = cluster.server.replace(/\/$/, "");
  const tls: {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    rejectUnauthorized?: boolean;
    headers?: Record<string, string>;
  } = {};
  await kc.applyToHTTPSOptions(tls as never);
  const dispatcher = new Agent({
    connect: { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized ?? true },
    connections: 64,
    keepAliveTimeout: 30_000,
  });
  let headers = { ...(tls.headers ?? {}) };
  let headersAt = Date.now();
  const authHeaders = async (): Promise<Record<string, string>> => {
    if (Date.now() - headersAt > HEADER_CACHE_MS) {
      const fresh: { headers?: Record<string, string> } = {};
      await kc.applyToHTTPSOptions(fresh as never);
      headers = { ...(fresh.headers ?? {}) };
      headersAt = Date.now();
    }
    return headers;
  };

  async function call(
    verb: Verb,
    rt: ResourceType,
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    opts: {
      query?: Record<string, string | undefined>;
      body?: unknown;
      contentType?: string;
      signal?: AbortSignal;
    } = {},
  ) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, v);
    const url = `${server}${path}${qs.size ? `?${qs}` : ""}`;
    const started = performance.now();
    const res = await request(url, {
      method,
      dispatcher,
      signal: opts.signal,
      headers: {
        ...(await authHeaders()),
        accept: "application/json",
        ...(opts.body !== undefined ? { "content-type": opts.contentType ?? "application/json" } : {}),
      },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      // Watches stay open for minutes with long silences between events.
      bodyTimeout: verb === "watch" ? 0 : 60_000,
    });
    observe?.(verb, rt.plural, res.statusCode, (performance.now() - started) / 1000);
    return res;
  }

  async function json<T>(res: Awaited<ReturnType<typeof request>>, what: string): Promise<T> {
    const text = await res.body.text();
    if (res.statusCode >= 200 && res.statusCode < 300) return JSON.parse(text) as T;
    let reason = "Unknown";
    let message = text.slice(0, 2000);
    try {
      const status = JSON.parse(text) as { reason?: string; message?: string };
      reason = status.reason ?? reason;
      message = status.message ?? message;
    } catch {}
    throw new KubeApiError(res.statusCode, reason, `${what}: ${res.statusCode} ${message}`);
  }

  const metaOf = (obj: KubeObject) => obj.metadata;

  return {
    server,
    async get<T extends KubeObject>(rt: ResourceType, name: string, namespace?: string) {
      const res = await call("get", rt, "GET", resourcePath(rt, namespace, name));
      if (res.statusCode === 404) {
        await res.body.dump();
        return undefined;
      }
      return json<T>(res, `get ${rt.plural} ${name}`);
    },
    async list<T extends KubeObject>(rt: ResourceType, query: Record<string, string | undefined> = {}) {
      const { namespace, ...rest } = query;
      const res = await call("list", rt, "GET", resourcePath(rt, namespace), { query: rest });
      return json<ListResult<T>>(res, `list ${rt.plural}`);
    },
    async create<T extends KubeObject>(rt: ResourceType, obj: KubeObject) {
      const res = await call("create", rt, "POST", resourcePath(rt, metaOf(obj).namespace), {
        body: obj,
        query: { fieldManager },
      });
      return json<T>(res, `create ${rt.plural} ${metaOf(obj).name ?? metaOf(obj).generateName ?? ""}`);
    },
    async replace<T extends KubeObject>(rt: ResourceType, obj: KubeObject, subresource?: string) {
      const m = metaOf(obj);
      const res = await call("update", rt, "PUT", resourcePath(rt, m.namespace, m.name, subresource), {
        body: obj,
        query: { fieldManager },
      });
      return json<T>(res, `update ${rt.plural}${subresource ? `/${subresource}` : ""} ${m.name}`);
    },
    async apply<T extends KubeObject>(rt: ResourceType, obj: KubeObject) {
      const m = metaOf(obj);
      const res = await call("patch", rt, "PATCH", resourcePath(rt, m.namespace, m.name), {
        body: obj, // JSON is YAML, which the apply patch type accepts
        contentType: "application/apply-patch+yaml",
        query: { fieldManager, force: "true" },
      });
      return json<T>(res, `apply ${rt.plural} ${m.namespace ? `${m.namespace}/` : ""}${m.name}`);
    },
    async jsonPatch<T extends KubeObject>(
      rt: ResourceType,
      name: string,
      namespace: string | undefined,
      ops: unknown[],
    ) {
      const res = await call("patch", rt, "PATCH", resourcePath(rt, namespace, name), {
        body: ops,
        contentType: "application/json-patch+json",
        query: { fieldManager },
      });
      return json<T>(res, `patch ${rt.plural} ${name}`);
    },
    async delete(rt: ResourceType, name: string, namespace?: string, body?: unknown) {
      const res = await call("delete", rt, "DELETE", resourcePath(rt, namespace, name), { body });
      if (res.statusCode === 404) {
        await res.body.dump();
        return false;
      }
      await json(res, `delete ${rt.plural} ${name}`);
      return true;
    },
    async post<T>(
      rt: ResourceType,
      name: string,
      namespace: string | undefined,
      subresource: string,
      body: unknown,
    ) {
      const res = await call("create", rt, "POST", resourcePath(rt, namespace, name, subresource), { body });
      return json<T>(res, `create ${rt.plural}/${subresource} ${name}`);
    },
    async watch<T extends KubeObject>(
      rt: ResourceType,
      query: Record<string, string | undefined>,
      onEvent: (e: WatchEvent<T>) => void,
      signal: AbortSignal,
    ) {
      const { namespace, ...rest } = query;
      const res = await call("watch", rt, "GET", resourcePath(rt, namespace), {
        query: { ...rest, watch: "true" },
        signal,
      });
      if (res.statusCode !== 200) {
        await json(res, `watch ${rt.plural}`);
        return;
      }
      let buf = "";
      try {
        for await (const chunk of res.body) {
          buf += (chunk as Buffer).toString("utf8");
          let nl = buf.indexOf("\n");
          while (nl >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
            nl = buf.indexOf("\n");
          }
        }
      } catch (err) {
        if (!signal.aborted) throw err;
      }
    },
    async close() {
      await dispatcher.close();
    },
  };
}
