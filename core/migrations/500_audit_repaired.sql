-- Client-controlled text that PostgreSQL cannot store as sent (NUL, lone UTF-16 surrogates) is
-- repaired before it is stored (both become U+FFFD). The audit row keeps, per repaired field,
-- the SHA-256 of the original as a JSON string literal: {"end_user": "<hex>", "prompt": "<hex>"}.
ALTER TABLE audit_log ADD COLUMN repaired jsonb;
