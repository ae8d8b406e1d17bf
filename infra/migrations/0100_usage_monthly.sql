-- Monthly summaries of the current usage values, for usage rolled up into month, quarter, year and
-- `all` windows over many customers: a month no write has touched since its summary was made is read
-- from here (one row per customer, or per customer and properties text when grouping by
-- properties, instead of one per day), the other months from the daily values with FINAL. Written only by the streams worker's summary refresher; read by query.
--
-- A summary is made from one snapshot of a month's partition of usage_events_by_metric and is
-- tagged with that partition's version (the highest block number or mutation version of its
-- active parts: an insert or a mutation raises it, a merge does not). A reader uses a month's
-- summary only when a complete refresh (a row in usage_monthly_refreshes) has the partition's
-- current version.
CREATE TABLE IF NOT EXISTS usage_monthly
(
    org_id           String,
    granularity      LowCardinality(String),
    metric_key       String,
    month            DateTime('UTC') COMMENT 'First instant of the UTC month holding the values'' period_start',
    customer_id      String,
    source_version   UInt64 COMMENT 'Version of the usage_events_by_metric partition summarized',
    part_sum         Float64 COMMENT 'Sum of the values',
    part_min         Float64,
    part_max         Float64,
    part_count       UInt64 COMMENT 'Number of values (periods)',
    part_last        Float64 COMMENT 'Value of the latest period',
    part_last_period DateTime('UTC') COMMENT 'The latest period_start'
)
ENGINE = ReplacingMergeTree
PARTITION BY (toYYYYMM(month), source_version)
ORDER BY (org_id, granularity, metric_key, month, customer_id)
SETTINGS index_granularity = 1024
COMMENT 'Per org + metric + customer + month: sum, min, max, count and last of the current values at one version of the month. Read with FINAL, only at a version listed in usage_monthly_refreshes.';

-- The same per distinct properties text too, for usage grouped by properties (usage_monthly is made
-- from it, in the same refresh).
CREATE TABLE IF NOT EXISTS usage_monthly_by_properties
(
    org_id           String,
    granularity      LowCardinality(String),
    metric_key       String,
    month            DateTime('UTC'),
    customer_id      String,
    properties       LowCardinality(String) COMMENT 'The values'' properties text (JSON is parsed once per distinct text of a block)',
    source_version   UInt64,
    part_sum         Float64,
    part_min         Float64,
    part_max         Float64,
    part_count       UInt64,
    part_last        Float64,
    part_last_period DateTime('UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY (toYYYYMM(month), source_version)
ORDER BY (org_id, granularity, metric_key, month, customer_id, properties)
SETTINGS index_granularity = 1024
COMMENT 'usage_monthly per properties text as well. Read with FINAL, only at a version listed in usage_monthly_refreshes.';

CREATE TABLE IF NOT EXISTS usage_monthly_refreshes
(
    month          UInt32 COMMENT 'YYYYMM of the summarized partition',
    source_version UInt64 COMMENT 'Its version when summarized (and still after)',
    refreshed_at   DateTime64(3, 'UTC'),
    rows           UInt64 COMMENT 'Summary rows written',
    seconds        Float64 COMMENT 'How long the refresh took'
)
ENGINE = MergeTree
ORDER BY (month, source_version)
TTL toDateTime(refreshed_at) + INTERVAL 7 DAY
COMMENT 'One row per complete monthly summary (written after its rows). Kept 7 days: an unchanged month is summarized again after that.';
