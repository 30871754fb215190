-- Stored responses of the Responses API (router/responses/): the response object as answered,
-- the input items of its request, and the conversation that a later request continues with
-- previous_response_id. Numbers 400-499 belong to the Responses API.
-- Writes run as the owner with an explicit tenant; tenant-facing reads run as
-- loraplex_tenant_reader under the row-level security policy below. Rows older than the
-- tenant's spec.audit.retentionDays are purged with its audit rows (metering/audit.ts), and
-- tenant erasure deletes them (metering/erasure.ts).
CREATE TABLE responses (
  id           text PRIMARY KEY,
  tenant       text NOT NULL,
  -- The Response object (output, usage, status...) exactly as the client received it.
  response     jsonb NOT NULL,
  -- This request's input items (GET /v1/responses/{id}/input_items).
  input_items  jsonb NOT NULL,
  -- Chat messages of the whole conversation up to and including this response's output, without
  -- instructions, tenant system prompt or retrieved context: what previous_response_id continues.
  conversation jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX responses_tenant_created ON responses (tenant, created_at);

GRANT SELECT ON responses TO loraplex_tenant_reader;
ALTER TABLE responses ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON responses FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
