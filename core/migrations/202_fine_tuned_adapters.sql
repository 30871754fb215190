-- Adapters produced by fine-tunes, one row per registered version. The trainer inserts a row
-- once it has verified the adapter in S3; routers merge a tenant's rows into its model table,
-- so `fine_tuned_model` (the `name` here) resolves and is listed by GET /v1/models.
CREATE TABLE fine_tuned_adapters (
  tenant     text NOT NULL,
  name       text NOT NULL,          -- the client-facing id, ft:<base>:<tenant>:<suffix>:<id>
  adapter    text NOT NULL,          -- storage/engine name: ft-<job hex>, a valid adapter name
  base_model text NOT NULL,
  source     text NOT NULL,          -- s3://<bucket>/tenants/<tenant>/adapters/<adapter>/<version>/
  version    integer NOT NULL,
  sha256     text NOT NULL,          -- of adapter_model.safetensors, as the agent checks it
  job_id     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, name)
);
