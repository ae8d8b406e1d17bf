-- A read-side copy of usage_events in metric order, for usage rolled up over windows: the values of
-- one metric over a time range (every customer) are a few contiguous ranges (usage_events is
-- ordered by customer first, so one metric's values are spread over every granule of the org).
-- Filled by a materialized view like the copies of 0030 and 0051, so it holds every version too:
-- read it with FINAL (every replace-key column is in the sorting key).
CREATE TABLE IF NOT EXISTS usage_events_by_metric
(
    org_id       String,
    granularity  LowCardinality(String),
    metric_key   String,
    period_start DateTime('UTC'),
    customer_id  String,
    value        Float64,
    properties   String,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period_start)
ORDER BY (org_id, granularity, metric_key, period_start, customer_id)
SETTINGS index_granularity = 1024
COMMENT 'Copy of usage_events in metric order, for usage rollups (fed by usage_events_by_metric_mv). Read with FINAL.';

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_events_by_metric_mv TO usage_events_by_metric
AS SELECT org_id, granularity, metric_key, period_start, customer_id, value, properties, version
FROM usage_events;

-- Backfill (the view exists first: a row inserted meanwhile lands twice and collapses).
INSERT INTO usage_events_by_metric
SELECT org_id, granularity, metric_key, period_start, customer_id, value, properties, version
FROM usage_events;
