-- Tenant API keys. The key itself is never stored: `hash` is HMAC-SHA256 of the full key under
-- a key derived from the server secret (LORAPLEX_KEY_SECRET); `prefix` is the public lookup id
-- embedded in the key (lpx-<prefix>-<secret>), so a lookup reads at most one row.
CREATE TABLE api_keys (
  id           text PRIMARY KEY,
  tenant       text NOT NULL,
  name         text,
  prefix       text NOT NULL,
  hash         bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz,
  last_used_at timestamptz
);

CREATE UNIQUE INDEX api_keys_prefix_idx ON api_keys (prefix);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant, created_at);
