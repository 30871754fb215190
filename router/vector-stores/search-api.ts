// POST /v1/vector_stores/{id}/search: embeds the query with the tenant's embedding model through
// the tenant's own pool, searches the store (retrieval/search.ts) and answers OpenAI's search
// results page. Every search — served or failed once the store was found — is one usage event.
import express, { type Router } from "express";
import { ApiError } from "../../core/errors.ts";
import { VectorStoreId } from "../../retrieval/ids.ts";
import { HYBRID_RANKER, SearchBody } from "../../retrieval/schemas.ts";
import { countChunks, type SearchHit, searchChunks } from "../../retrieval/search.ts";
import { vectorStoreNotFound } from "../../retrieval/store-files.ts";
import type { VectorStoreApiDeps } from "./deps.ts";
import { embeddingModelOf } from "./embedder.ts";
import { jsonBody, pathId, tenantRoute } from "./http.ts";

export function createSearchApi(d: VectorStoreApiDeps): Router {
  const r = express.Router();
  r.post(
    "/v1/vector_stores/:vs/search",
    tenantRoute(d.authenticate, async (caller, req, res) => {
      const vs = pathId(VectorStoreId, req.params.vs, vectorStoreNotFound);
      const body = await jsonBody(req, SearchBody);
      if (body.rewrite_query) {
        throw new ApiError(400, "rewrite_query is not supported: send the query you want searched.", {
          code: "unsupported_parameter",
          param: "rewrite_query",
        });
      }
      const tenant = caller.tenant.metadata.name;
      if (!(await d.stores.get(tenant, vs))) throw vectorStoreNotFound(vs);
      const model = embeddingModelOf(caller.tenant);
      d.meter.checkPriced(caller.tenant, model);
      const text = Array.isArray(body.query) ? body.query.join("\n") : body.query;
      const requestId = `vss-${crypto.randomUUID()}`;
      const startedAt = Date.now();
      const t0 = performance.now();
      let tokens = 0;
      const meterSearch = (result: { ok: boolean; httpStatus: number; reason?: string }) =>
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
      let data: SearchHit[];
      try {
        const q = await d.embed(caller.tenant, [text], requestId);
        tokens = q.tokens;
        const chunks = await countChunks(d.pool, tenant, [vs]);
        data = await searchChunks(
          d.pool,
          {
            tenant,
            storeIds: [vs],
            vector: q.vectors[0]!,
            text,
            k: body.max_num_results ?? 10,
            filters: body.filters,
            hybrid: body.ranking_options?.ranker === HYBRID_RANKER,
            scoreThreshold: body.ranking_options?.score_threshold,
          },
          chunks,
          d.searchOptions,
        );
      } catch (err) {
        meterSearch({
          ok: false,
          httpStatus: err instanceof ApiError ? err.status : 500,
          reason: err instanceof Error ? err.message : String(err),
        });
        throw err;
      }
      meterSearch({ ok: true, httpStatus: 200 });
      await d.stores.touch(tenant, [vs]);
      res.json({
        object: "vector_store.search_results.page",
        search_query: body.query,
        data,
        has_more: false,
        next_page: null,
      });
    }),
  );
  return r;
}
