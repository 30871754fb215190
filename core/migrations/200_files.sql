-- Files uploaded through the OpenAI-compatible files API. The bytes live in S3 at
-- tenants/<tenant>/files/<id>; this row is the metadata. Tenant-facing reads run as
-- loraplex_tenant_reader (router/metering/tenant-db.ts), so RLS hides other tenants' rows.
CREATE TABLE files (
  id         text PRIMARY KEY,
  tenant     text NOT NULL,
  filename   text NOT NULL,
  purpose    text NOT NULL,
  bytes      bigint NOT NULL,
  status     text NOT NULL DEFAULT 'processed',
  created_at timestamptz NOT NULL DEFAULT now(),
  seq        bigserial NOT NULL
);
CREATE INDEX files_tenant_seq ON files (tenant, seq DESC);

GRANT SELECT ON files TO loraplex_tenant_reader;
ALTER TABLE files ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON files FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
