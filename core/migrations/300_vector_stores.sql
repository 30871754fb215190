-- Retrieval: vector stores, the files attached to them, and their embedded chunks (pgvector).
-- Writes run as the owner with an explicit tenant; tenant-facing reads run as
-- loraplex_tenant_reader (metering/tenant-db.ts) under the row-level security policies below.
-- pgvector >= 0.8 is required (iterative index scans); it lives in schema public, which every
-- Loraplex connection has on its search_path after its own schema (core/db.ts).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
    CREATE EXTENSION vector SCHEMA public;
  END IF;
  IF (SELECT string_to_array(extversion, '.')::int[] FROM pg_extension WHERE extname = 'vector')
     < ARRAY[0, 8] THEN
    RAISE EXCEPTION 'pgvector 0.8 or newer is required (ALTER EXTENSION vector UPDATE)';
  END IF;
END
$$;

CREATE TABLE vector_stores (
  id             text PRIMARY KEY,
  tenant         text NOT NULL,
  name           text,
  description    text,
  metadata       jsonb NOT NULL DEFAULT '{}',
  -- {anchor: "last_active_at", days}; NULL: never expires.
  expires_after  jsonb,
  last_active_at timestamptz NOT NULL DEFAULT now(),
  created_at     timestamptz NOT NULL DEFAULT now(),
  seq            bigserial NOT NULL
);
CREATE INDEX vector_stores_tenant_seq ON vector_stores (tenant, seq DESC);

CREATE TABLE vector_store_file_batches (
  id              text PRIMARY KEY,
  tenant          text NOT NULL,
  vector_store_id text NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
  cancelled       boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vector_store_files (
  vector_store_id   text NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
  file_id           text NOT NULL,
  tenant            text NOT NULL,
  -- in_progress → completed | failed | cancelled (set by the ingestion worker or a cancel).
  status            text NOT NULL DEFAULT 'in_progress',
  last_error        jsonb,
  attributes        jsonb NOT NULL DEFAULT '{}',
  chunking_strategy jsonb NOT NULL,
  usage_bytes       bigint NOT NULL DEFAULT 0,
  chunk_count       integer NOT NULL DEFAULT 0,
  batch_id          text REFERENCES vector_store_file_batches (id) ON DELETE SET NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  seq               bigserial NOT NULL,
  PRIMARY KEY (vector_store_id, file_id)
);
CREATE INDEX vector_store_files_tenant ON vector_store_files (tenant);
CREATE INDEX vector_store_files_batch ON vector_store_files (batch_id) WHERE batch_id IS NOT NULL;

-- The embedding column has no fixed dimension (tenants choose their embedding model); each
-- dimension in use gets its own partial HNSW index on embedding::vector(dims), created by the
-- ingestion worker the first time it stores vectors of that size (retrieval/hnsw-index.ts).
CREATE TABLE vector_store_chunks (
  id              bigserial PRIMARY KEY,
  tenant          text NOT NULL,
  vector_store_id text NOT NULL,
  file_id         text NOT NULL,
  chunk_index     integer NOT NULL,
  content         text NOT NULL,
  dims            smallint NOT NULL,
  embedding       vector NOT NULL,
  tsv             tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED,
  FOREIGN KEY (vector_store_id, file_id)
    REFERENCES vector_store_files (vector_store_id, file_id) ON DELETE CASCADE
);
CREATE INDEX vector_store_chunks_store ON vector_store_chunks (vector_store_id, file_id);
CREATE INDEX vector_store_chunks_tenant ON vector_store_chunks (tenant);
CREATE INDEX vector_store_chunks_tsv ON vector_store_chunks USING gin (tsv);

-- Stored bytes per tenant and UTC day (largest and latest total), for the usage and costs APIs:
-- a day without a row is billed at the latest total of the days before it.
CREATE TABLE vector_store_bytes_daily (
  tenant     text   NOT NULL,
  day        date   NOT NULL,
  max_bytes  bigint NOT NULL,
  last_bytes bigint NOT NULL,
  PRIMARY KEY (tenant, day)
);

GRANT SELECT ON vector_stores, vector_store_file_batches, vector_store_files, vector_store_chunks,
  vector_store_bytes_daily TO loraplex_tenant_reader;
ALTER TABLE vector_stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE vector_store_file_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE vector_store_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE vector_store_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE vector_store_bytes_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON vector_stores FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_rows ON vector_store_file_batches FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_rows ON vector_store_files FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_rows ON vector_store_chunks FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_rows ON vector_store_bytes_daily FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
