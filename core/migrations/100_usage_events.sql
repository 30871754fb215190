-- Usage events: one row per request (served, failed or rejected), written in batches by the
-- usage writer from the Redis spool. Range-partitioned by month on `ts` so a tenant + time-range
-- query touches only the months it asks for, through the (tenant, ts) index of each; old months
-- can be detached or dropped whole. The primary key (tenant, ts, id) is both the index of those
-- range queries and what makes replays from the spool idempotent (ON CONFLICT DO NOTHING): a
-- spooled event always carries the same tenant and time with its id. One index, not two, per row.
CREATE TABLE usage_events (
  id                uuid        NOT NULL,
  ts                timestamptz NOT NULL,
  request_id        text        NOT NULL,
  tenant            text        NOT NULL,
  key_id            text        NOT NULL DEFAULT '',
  end_user          text        NOT NULL DEFAULT '',
  feature           text        NOT NULL DEFAULT '',
  endpoint          text        NOT NULL,
  model             text        NOT NULL,
  base_model        text        NOT NULL,
  adapter           text        NOT NULL DEFAULT '',
  adapter_version   integer     NOT NULL DEFAULT 0,
  replica           text        NOT NULL DEFAULT '',
  prompt_tokens     integer     NOT NULL DEFAULT 0,
  completion_tokens integer     NOT NULL DEFAULT 0,
  input_cost_micro  bigint      NOT NULL DEFAULT 0,
  output_cost_micro bigint      NOT NULL DEFAULT 0,
  ttft_ms           real,
  duration_ms       real        NOT NULL DEFAULT 0,
  status            text        NOT NULL,
  http_status       smallint    NOT NULL,
  reason            text        NOT NULL DEFAULT '',
  stream            boolean     NOT NULL DEFAULT false,
  PRIMARY KEY (tenant, ts, id)
) PARTITION BY RANGE (ts);

-- The operator's rejection report scans only rejected rows of a period.
CREATE INDEX usage_events_rejected_idx ON usage_events (ts) WHERE status = 'rejected';

-- Creates the month's partition when missing. Bounds are UTC whatever the session time zone.
-- Two writers racing to create the same month is harmless: the loser's error is swallowed.
CREATE FUNCTION ensure_usage_events_partition(at timestamptz) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  lo timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
  part text := format('usage_events_p%s', to_char(lo, 'YYYYMM'));
BEGIN
  IF to_regclass(quote_ident(current_schema()) || '.' || quote_ident(part)) IS NOT NULL THEN
    RETURN;
  END IF;
  BEGIN
    EXECUTE format(
      'CREATE TABLE IF NOT EXISTS %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
      part, to_char(lo, 'YYYY-MM-DD"T"00:00:00"Z"'),
      to_char(lo + interval '1 month', 'YYYY-MM-DD"T"00:00:00"Z"'));
  EXCEPTION WHEN duplicate_table OR unique_violation THEN
    NULL;
  END;
END
$fn$;

-- The previous month (late settlements), this one and two ahead; the writer adds more as needed.
SELECT ensure_usage_events_partition(now() + make_interval(months => m)) FROM generate_series(-1, 2) AS m;

-- Erasure tombstones: the writer drops spooled events of an erased tenant that arrive later.
CREATE TABLE tenant_erasures (
  tenant    text        PRIMARY KEY,
  erased_at timestamptz NOT NULL
);
