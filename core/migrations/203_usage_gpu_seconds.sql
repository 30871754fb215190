-- GPU-seconds of a metered fine-tune (trainer/metering.ts). NULL on inference requests, whose
-- usage events never carry the field, so the router's writer needs no change in behaviour.
ALTER TABLE usage_events ADD COLUMN gpu_seconds real;
