-- Usage values. Written only by the streams worker; read by query and data teams.

CREATE TABLE IF NOT EXISTS usage_events
(
    org_id               String COMMENT 'Organization',
    customer_id          String COMMENT 'Resolved customer ID',
    metric_key           String COMMENT 'Metric key (event_code in the retrieval API)',
    granularity          LowCardinality(String) COMMENT 'hourly, daily, weekly or monthly',
    period_start         DateTime('UTC') COMMENT 'Start of the UTC period bucket',
    event_id             UUID COMMENT 'Stable ID of this org+customer+metric+granularity+period value',
    external_customer_id String COMMENT 'External ID the latest write was sent with',
    event_type           LowCardinality(String) COMMENT 'credit or debit',
    value                Float64 COMMENT 'Current value (the last accepted write replaces earlier ones)',
    created_at           DateTime64(6, 'UTC') COMMENT 'Event timestamp of the latest write (ingestion time when it had none)',
    properties           String COMMENT 'Event properties as compact JSON text (keys sorted, JSON types kept)',
    ingested_at          DateTime64(6, 'UTC') COMMENT 'When ingress accepted the latest write',
    version              UInt64 COMMENT 'Replace version: the highest is the current value',
    source_partition     UInt32 COMMENT 'Kafka partition of the latest write',
    source_offset        UInt64 COMMENT 'Kafka offset of the latest write',
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_created_at created_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period_start)
ORDER BY (org_id, customer_id, metric_key, granularity, period_start)
COMMENT 'Current usage values, one per org+customer+metric+granularity+period. Read with FINAL (or the usage_events_current view).';

CREATE TABLE IF NOT EXISTS usage_event_history
(
    org_id               String COMMENT 'Organization',
    customer_id          String COMMENT 'Resolved customer ID',
    metric_key           String COMMENT 'Metric key',
    granularity          LowCardinality(String) COMMENT 'hourly, daily, weekly or monthly',
    period_start         DateTime('UTC') COMMENT 'Start of the UTC period bucket',
    event_id             UUID COMMENT 'Stable ID of the value this write replaced',
    external_customer_id String COMMENT 'External ID the write was sent with',
    event_type           LowCardinality(String) COMMENT 'credit or debit',
    value                Float64 COMMENT 'Value written',
    created_at           DateTime64(6, 'UTC') COMMENT 'Event timestamp',
    properties           String COMMENT 'Event properties (compact JSON)',
    ingested_at          DateTime64(6, 'UTC') COMMENT 'When ingress accepted the write',
    version              UInt64 COMMENT 'Replace version of the write',
    source_partition     UInt32 COMMENT 'Kafka partition',
    source_offset        UInt64 COMMENT 'Kafka offset'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (org_id, event_id, version)
COMMENT 'Every accepted write, for audit (a replayed record collapses onto the same row).';

CREATE VIEW IF NOT EXISTS usage_events_current
COMMENT 'Current usage values without knowing about FINAL.'
AS SELECT * FROM usage_events FINAL;
