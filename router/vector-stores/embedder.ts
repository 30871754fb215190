// Embeddings for retrieval through the router's own upstream path: the tenant's embedding model
// (spec.retrieval.embeddingModel) resolved inside the tenant, a replica of the tenant's own pool
// picked by the scheduler (load counted, failures marked), the engine's /v1/embeddings called
// with the router's engine credentials and the tenant's cache salt. One retry on another replica
// when the first cannot answer, as for client requests. Each call is metered by the caller.
import { randomUUID } from "node:crypto";
import { ApiError } from "../../core/errors.ts";
import type { Tenant } from "../../core/tenant.ts";
import type { RouterDeps } from "../handlers/deps.ts";

export type EmbedResult = { vectors: number[][]; tokens: number; model: string };

type Deps = Pick<RouterDeps, "resolveModel" | "pools" | "upstreams" | "poolRefFor" | "cacheSalt">;

const retrievalNotConfigured = () =>
  new ApiError(
    400,
    "Vector stores need an embedding model: ask your operator to set spec.retrieval.embeddingModel on your Tenant.",
    { code: "retrieval_not_configured" },
  );

export function embeddingModelOf(tenant: Tenant): string {
  const model = tenant.spec.retrieval?.embeddingModel;
  if (!model) throw retrievalNotConfigured();
  return model;
}

export function createEmbedder(deps: Deps) {
  return async function embed(
    tenant: Tenant,
    inputs: string[],
    requestId: string = randomUUID(),
  ): Promise<EmbedResult> {
    const model = embeddingModelOf(tenant);
    const resolved = deps.resolveModel(tenant, model);
    const upstreamModel = resolved.adapter?.loraName ?? resolved.baseModel;
    const payload = JSON.stringify({
      model: upstreamModel,
      input: inputs,
      encoding_format: "float",
      cache_salt: deps.cacheSalt(tenant),
    });
    const poolRef = deps.poolRefFor(tenant);
    let exclude: Set<string> | undefined;
    let lastError: ApiError | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const replica = deps.pools.pick(poolRef, resolved.adapter?.loraName, exclude);
      if (!replica) break;
      exclude = new Set([replica.id]);
      deps.pools.requestStarted(replica);
      let ok = false;
      try {
        if (resolved.adapter) await deps.pools.ensureAdapter(replica, tenant.metadata.name, resolved.adapter);
        const headers: Record<string, string> = {
          "content-type": "application/json",
          "x-request-id": requestId,
        };
        if (deps.upstreams.authorization) headers.authorization = deps.upstreams.authorization;
        const up = await deps.upstreams
          .pool(replica.engineUrl)
          .request({ method: "POST", path: "/v1/embeddings", headers, body: payload });
        const text = await up.body.text();
        if (up.statusCode >= 500) {
          lastError = new ApiError(502, `The engine failed to embed (HTTP ${up.statusCode}).`, {
            code: "upstream_error",
          });
          continue;
        }
        ok = true;
        if (up.statusCode !== 200) {
          throw new ApiError(
            502,
            `The engine refused to embed (HTTP ${up.statusCode}): ${text.slice(0, 300)}`,
            {
              code: "upstream_error",
            },
          );
        }
        return { ...parseEmbeddings(text, inputs.length), model };
      } catch (err) {
        if (err instanceof ApiError) throw err;
        deps.pools.markFailed(replica, (err as Error).message ?? "connection failed");
        lastError = new ApiError(502, "Could not reach an engine replica to embed.", {
          code: "upstream_error",
        });
      } finally {
        deps.pools.requestFinished(replica, ok);
      }
    }
    throw (
      lastError ??
      new ApiError(503, "No healthy engine replica is available for the embedding model right now.", {
        code: "no_healthy_replica",
      })
    );
  };
}
export type Embed = ReturnType<typeof createEmbedder>;

function parseEmbeddings(text: string, n: number): { vectors: number[][]; tokens: number } {
  let body: { data?: { index?: number; embedding?: unknown }[]; usage?: { prompt_tokens?: number } };
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(502, "The engine's embeddings response is not JSON.", { code: "upstream_error" });
  }
  const vectors: number[][] = new Array(n);
  for (const d of body.data ?? []) {
    if (typeof d.index === "number" && d.index >= 0 && d.index < n && Array.isArray(d.embedding)) {
      vectors[d.index] = d.embedding as number[];
    }
  }
  if (vectors.filter(Boolean).length !== n) {
    throw new ApiError(502, "The engine returned fewer embeddings than inputs.", { code: "upstream_error" });
  }
  return { vectors, tokens: Number(body.usage?.prompt_tokens ?? 0) };
}
