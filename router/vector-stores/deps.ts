// What the vector store routes need, assembled by setup.ts.
import type pg from "pg";
import type { IngestQueue } from "../../retrieval/queue.ts";
import type { SearchOptions } from "../../retrieval/search.ts";
import type { StoreFiles } from "../../retrieval/store-files.ts";
import type { VectorStores } from "../../retrieval/stores.ts";
import type { RetrievalMeter } from "../../retrieval/usage.ts";
import type { Embed } from "./embedder.ts";
import type { Authenticate } from "./http.ts";

export type VectorStoreApiDeps = {
  pool: pg.Pool;
  authenticate: Authenticate;
  stores: VectorStores;
  files: StoreFiles;
  queue: IngestQueue;
  embed: Embed;
  meter: RetrievalMeter;
  searchOptions?: SearchOptions;
};
