-- Row-level security, the second wall behind every tenant-facing read of usage and audit data:
-- those queries run as the non-owner role loraplex_tenant_reader with app.tenant set for the
-- transaction, and these policies hide every other tenant's rows even from a query that forgot
-- its WHERE clause. The owner (the writer, the operator reports, erasure) is not affected.
-- The connecting user needs CREATEROLE (or an operator creates the role and grants it first).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loraplex_tenant_reader') THEN
    BEGIN
      CREATE ROLE loraplex_tenant_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- another schema's migration created it at the same moment
    END;
  END IF;
  IF NOT pg_has_role(current_user, 'loraplex_tenant_reader', 'MEMBER') THEN
    EXECUTE format('GRANT loraplex_tenant_reader TO %I', current_user);
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO loraplex_tenant_reader', current_schema());
END
$$;

GRANT SELECT ON usage_events, usage_daily, audit_log TO loraplex_tenant_reader;

ALTER TABLE usage_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;

-- current_setting(..., true) is NULL when unset, and NULL matches nothing: no tenant, no rows.
CREATE POLICY tenant_rows ON usage_events FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_rows ON usage_daily FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_rows ON audit_log FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
