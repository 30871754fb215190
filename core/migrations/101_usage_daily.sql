-- Daily rollups per tenant × day × endpoint × model × adapter × key × end user × feature,
-- upserted by the usage writer in the same transaction as the events it counts (only rows that
-- were really inserted are added, so a replayed batch is not counted twice). Day buckets of the
-- usage and costs APIs and the dashboard read these instead of raw events.
CREATE TABLE usage_daily (
  tenant            text    NOT NULL,
  day               date    NOT NULL,
  endpoint          text    NOT NULL,
  model             text    NOT NULL,
  base_model        text    NOT NULL,
  adapter           text    NOT NULL,
  adapter_version   integer NOT NULL,
  key_id            text    NOT NULL,
  end_user          text    NOT NULL,
  feature           text    NOT NULL,
  requests          bigint  NOT NULL DEFAULT 0,
  rejected          bigint  NOT NULL DEFAULT 0,
  failed            bigint  NOT NULL DEFAULT 0,
  input_tokens      bigint  NOT NULL DEFAULT 0,
  output_tokens     bigint  NOT NULL DEFAULT 0,
  input_cost_micro  bigint  NOT NULL DEFAULT 0,
  output_cost_micro bigint  NOT NULL DEFAULT 0,
  duration_ms       double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, day, endpoint, model, base_model, adapter, adapter_version, key_id, end_user, feature)
);

-- The operator's reports group all tenants of a period.
CREATE INDEX usage_daily_day_idx ON usage_daily (day);
