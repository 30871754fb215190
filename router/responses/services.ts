// What the Responses API needs beyond the inference path, assembled by createRouter: the stored
// responses and the metered vector store search of the file_search tool.
import type { Authenticated } from "../../core/request-context.ts";
import type { SearchHit, StoreSearch } from "../../retrieval/search.ts";
import type { ResponseStore } from "./store.ts";

/** Searches the caller's own stores (an unknown or other tenant's store is a 404), metered. */
export type SearchStores = (caller: Authenticated, q: StoreSearch) => Promise<SearchHit[]>;

export type ResponsesServices = {
  store: ResponseStore;
  /** Undefined: file_search is unavailable on this router. */
  search?: SearchStores;
};
