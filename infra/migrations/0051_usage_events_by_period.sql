-- A third read-side copy of usage_events, in period order: the values whose period can hold a
-- given created_at range are a few contiguous ranges per granularity (a day's page of a
-- whole-organization search reads about that day's values instead of its whole month). Filled by a
-- materialized view like the copies of 0030, so it holds every version too and is read with FINAL.
CREATE TABLE IF NOT EXISTS usage_events_by_period
(
    org_id               String,
    granularity          LowCardinality(String),
    period_start         DateTime('UTC'),
    customer_id          String,
    metric_key           String,
    event_id             UUID,
    external_customer_id String,
    event_type           LowCardinality(String),
    value                Float64,
    created_at           DateTime64(6, 'UTC'),
    properties           String,
    version              UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period_start)
ORDER BY (org_id, granularity, period_start, customer_id, metric_key)
COMMENT 'Copy of usage_events in period order, for time-ordered reads (fed by usage_events_by_period_mv). Read with FINAL.';

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_events_by_period_mv TO usage_events_by_period
AS SELECT org_id, granularity, period_start, customer_id, metric_key, event_id, external_customer_id,
          event_type, value, created_at, properties, version
FROM usage_events;

-- Backfill (the view exists first: a row inserted meanwhile lands twice and collapses).
INSERT INTO usage_events_by_period
SELECT org_id, granularity, period_start, customer_id, metric_key, event_id, external_customer_id,
       event_type, value, created_at, properties, version
FROM usage_events;
