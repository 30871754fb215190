-- Time a request waited in the router's fair queue (router/fairness) because its pool was
-- saturated; NULL when it went straight to an engine. The tenant dashboard shows its own.
ALTER TABLE usage_events ADD COLUMN queue_ms real;
