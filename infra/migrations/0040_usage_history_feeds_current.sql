-- The streams worker inserts each batch once, into usage_event_history (every accepted write);
-- this materialized view copies every inserted block into usage_events on the server, in the same
-- INSERT (so both tables see a batch at once, and a failed insert is retried as a whole). Both
-- tables are ReplacingMergeTree(version): usage_events keeps, per replace key, the highest
-- version (the latest write), exactly as when the worker inserted the latest row per key itself;
-- a replayed batch lands twice and its identical rows collapse. Inserts into usage_events still
-- feed the query side's views (0030) as before.
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_events_from_history_mv TO usage_events
AS SELECT org_id, customer_id, metric_key, granularity, period_start, event_id, external_customer_id,
          event_type, value, created_at, properties, ingested_at, version, source_partition, source_offset
FROM usage_event_history;
