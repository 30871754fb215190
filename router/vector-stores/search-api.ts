// POST /v1/vector_stores/{id}/search: embeds the query with the tenant's embedding model through
// the tenant's own pool, searches the store (retrieval/search.ts) and answers OpenAI's search
// results page. Every search — served or failed once the store was found — is one usage event
// (run-search.ts).
import express, { type Router } from "express";
import { ApiError } from "../../core/errors.ts";
import { VectorStoreId } from "../../retrieval/ids.ts";
import { HYBRID_RANKER, SearchBody } from "../../retrieval/schemas.ts";
import { vectorStoreNotFound } from "../../retrieval/store-files.ts";
import { jsonBody, pathId, tenantRoute } from "./http.ts";
import type { SearchStores } from "./run-search.ts";

export function createSearchApi(d: {
  authenticate: Parameters<typeof tenantRoute>[0];
  search: SearchStores;
}): Router {
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
      const data = await d.search(caller, {
        storeIds: [vs],
        text: Array.isArray(body.query) ? body.query.join("\n") : body.query,
        k: body.max_num_results ?? 10,
        filters: body.filters,
        hybrid: body.ranking_options?.ranker === HYBRID_RANKER,
        scoreThreshold: body.ranking_options?.score_threshold,
      });
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
