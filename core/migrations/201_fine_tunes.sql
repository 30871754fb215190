-- Fine-tuning jobs, their events and checkpoints. This table is the queue of record: the
-- trainer's dispatcher picks queued rows fairly across tenants (trainer/fairness.ts) and hands
-- them to BullMQ only when a slot is free (dispatched_at). Tenant-facing reads go through RLS.
CREATE TABLE fine_tune_jobs (
  id               text PRIMARY KEY,
  tenant           text NOT NULL,
  model            text NOT NULL,
  training_file    text NOT NULL,
  validation_file  text,
  suffix           text,
  seed             integer NOT NULL,
  hyperparameters  jsonb NOT NULL,
  status           text NOT NULL,
  fine_tuned_model text,
  error            jsonb,
  trained_tokens   bigint,
  created_at       timestamptz NOT NULL DEFAULT now(),
  dispatched_at    timestamptz,
  finished_at      timestamptz,
  seq              bigserial NOT NULL
);
CREATE INDEX fine_tune_jobs_tenant_seq ON fine_tune_jobs (tenant, seq DESC);
CREATE INDEX fine_tune_jobs_waiting ON fine_tune_jobs (seq) WHERE status = 'queued' AND dispatched_at IS NULL;

CREATE TABLE fine_tune_events (
  id         text PRIMARY KEY,
  job_id     text NOT NULL REFERENCES fine_tune_jobs (id) ON DELETE CASCADE,
  tenant     text NOT NULL,
  level      text NOT NULL,
  type       text NOT NULL DEFAULT 'message',
  message    text NOT NULL,
  data       jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  seq        bigserial NOT NULL
);
CREATE INDEX fine_tune_events_job_seq ON fine_tune_events (job_id, seq DESC);

CREATE TABLE fine_tune_checkpoints (
  id                          text PRIMARY KEY,
  job_id                      text NOT NULL REFERENCES fine_tune_jobs (id) ON DELETE CASCADE,
  tenant                      text NOT NULL,
  step_number                 integer NOT NULL,
  metrics                     jsonb NOT NULL,
  fine_tuned_model_checkpoint text NOT NULL,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  seq                         bigserial NOT NULL
);
CREATE INDEX fine_tune_checkpoints_job_seq ON fine_tune_checkpoints (job_id, seq DESC);

GRANT SELECT ON fine_tune_jobs, fine_tune_events, fine_tune_checkpoints TO loraplex_tenant_reader;
ALTER TABLE fine_tune_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE fine_tune_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE fine_tune_checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON fine_tune_jobs FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_rows ON fine_tune_events FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_rows ON fine_tune_checkpoints FOR SELECT TO loraplex_tenant_reader
  USING (tenant = current_setting('app.tenant', true));
