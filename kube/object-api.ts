// client-node's generic KubernetesObjectApi, speaking plain JSON. The base class resolves a
// resource's path from the API server's discovery documents and sends requests through the
// library's authenticated transport; what this subclass changes is the (de)serialization: the
// base class runs bodies through the typed model serializer, which silently drops fields whose
// TypeScript name differs from their JSON name (a NetworkPolicy rule's `from`, a LimitRange's
// `default`) and turns timestamps into Date objects. The controller compares what it wants with
// what it observes field by field, so it needs the JSON exactly as the API server speaks it.
import {
  ApiException,
  type HttpMethod,
  type KubernetesObject,
  KubernetesObjectApi,
  type ResponseContext,
} from "@kubernetes/client-node";

type Action = "create" | "delete" | "patch" | "read" | "list" | "replace";

export type ObjectRef = { apiVersion: string; kind: string; name?: string; namespace?: string };

type RawRequest = {
  method: HttpMethod;
  action: Action;
  ref: ObjectRef;
  subresource?: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
};

/** The API server's Status body of a failed request, when it sent one. */
export type StatusBody = { reason?: string; message?: string; code?: number };

export class RawObjectApi extends KubernetesObjectApi {
  /** The URL path of a resource collection (namespace-scoped when `namespace` is given). */
  collectionPath(ref: ObjectRef): Promise<string> {
    return this.specUriPath(header(ref), "list");
  }

  async send<T>(req: RawRequest): Promise<T> {
    const path =
      (await this.specUriPath(header(req.ref), req.action)) + (req.subresource ? `/${req.subresource}` : "");
    const ctx = this.configuration.baseServer.makeRequestContext(path, req.method);
    ctx.setHeaderParam("Accept", "application/json");
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) ctx.setQueryParam(k, v);
    if (req.body !== undefined) {
      ctx.setHeaderParam("Content-Type", req.contentType ?? "application/json");
      ctx.setBody(JSON.stringify(req.body));
    }
    return this.requestPromise(ctx) as Promise<T>;
  }

  // The base class deserializes into typed models; keep the server's JSON as it is.
  protected override async processResponse<T extends KubernetesObject>(
    response: ResponseContext,
  ): Promise<T> {
    const text = await response.body.text();
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) return JSON.parse(text) as T;
    let body: StatusBody = { message: text.slice(0, 2000) };
    try {
      body = JSON.parse(text) as StatusBody;
    } catch {}
    throw new ApiException<StatusBody>(response.httpStatusCode, body.message ?? "", body, response.headers);
  }
}

// specUriPath fills in defaults on the object it is given: hand it a fresh one each time.
function header(ref: ObjectRef): KubernetesObject {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, namespace: ref.namespace },
  };
}
