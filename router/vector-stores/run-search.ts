// One metered search over a tenant's vector stores, shared by POST /v1/vector_stores/{id}/search
// and the Responses API's file_search tool (router/responses/file-search.ts): every store must
// be the caller's own (another tenant's id is the same 404 as an unknown one), the query is
// embedded with the tenant's embedding model through its own pool, and the search — served or
// failed once the stores were found — is one usage event (a retrieval call).
import { ApiError } from "../../core/errors.ts";
import { countChunks, type SearchHit, type StoreSearch, searchChunks } from "../../retrieval/search.ts";
import { vectorStoreNotFound } from "../../retrieval/store-files.ts";
import type { VectorStoreApiDeps } from "./deps.ts";
import { embeddingModelOf } from "./embedder.ts";
import type { Caller } from "./http.ts";

export type SearchStores = (caller: Caller, q: StoreSearch) => Promise<SearchHit[]>;

export function createStoreSearch(d: VectorStoreApiDeps): SearchStores {
  return async (caller, q) => {
    const tenant = caller.tenant.metadata.name;
    for (const id of q.storeIds) if (!(await d.stores.get(tenant, id))) throw vectorStoreNotFound(id);
    const model = embeddingModelOf(caller.tenant);
    d.meter.checkPriced(caller.tenant, model);
    const requestId = `vss-${crypto.randomUUID()}`;
    const startedAt = Date.now();
    const t0 = performance.now();
    let tokens = 0;
    const meter = (result: { ok: boolean; httpStatus: number; reason?: string }) =>
      d.meter.searched({
        tenant: caller.tenant,
        keyId: caller.keyId,
        requestId,
        model,
        tokens,
        startedAt,
        durationMs: performance.now() - t0,
        ...result,
      });
    let hits: SearchHit[];
    try {
      const embedded = await d.embed(caller.tenant, [q.text], requestId);
      tokens = embedded.tokens;
      const chunks = await countChunks(d.pool, tenant, q.storeIds);
      hits = await searchChunks(
        d.pool,
        {
          tenant,
          storeIds: q.storeIds,
          vector: embedded.vectors[0]!,
          text: q.text,
          k: q.k,
          filters: q.filters,
          hybrid: q.hybrid,
          scoreThreshold: q.scoreThreshold,
        },
        chunks,
        d.searchOptions,
      );
    } catch (err) {
      meter({
        ok: false,
        httpStatus: err instanceof ApiError ? err.status : 500,
        reason: err instanceof Error ? err.message : String(err),
      });
      throw err;
    }
    meter({ ok: true, httpStatus: 200 });
    await d.stores.touch(tenant, q.storeIds);
    return hits;
  };
}
