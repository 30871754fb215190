-- The per-tenant audit trail: one row per request with the decision taken and, per the tenant's
-- audit mode, the prompt and response in full, their SHA-256 only, or neither. Rows older than
-- the tenant's retentionDays are purged by the audit retention job.
CREATE TABLE audit_log (
  id              uuid        NOT NULL,
  ts              timestamptz NOT NULL,
  tenant          text        NOT NULL,
  request_id      text        NOT NULL,
  key_id          text        NOT NULL,
  end_user        text        NOT NULL,
  model           text        NOT NULL,
  base_model      text        NOT NULL,
  adapter         text        NOT NULL,
  adapter_version integer     NOT NULL,
  policy_hash     text        NOT NULL,
  decision        text        NOT NULL CHECK (decision IN ('served', 'rejected', 'failed')),
  reason          text        NOT NULL,
  mode            text        NOT NULL CHECK (mode IN ('full', 'hashes', 'none')),
  prompt          text,
  response        text,
  prompt_sha256   text,
  response_sha256 text,
  -- Serves keyset pagination (ts, id) within a tenant, the export and the retention purge, and
  -- makes a replayed audit row a no-op (a spooled row carries the same tenant and time as its id).
  PRIMARY KEY (tenant, ts, id)
);
