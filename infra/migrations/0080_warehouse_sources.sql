-- Warehouse sources (BigQuery, Snowflake, ClickHouse queries pulled on a schedule), their runs and
-- the scheduler lease. Written and read by ingress only. Credentials are stored only as a
-- Fernet token (`secret_token`), encrypted with QUIVLY_WAREHOUSE_ENCRYPTION_KEY.

CREATE TABLE IF NOT EXISTS warehouse_sources
(
    org_id       String COMMENT 'Organization',
    source_id    String COMMENT 'Source ID (opaque, stable)',
    name         String COMMENT 'Display name',
    kind         LowCardinality(String) COMMENT 'bigquery, snowflake or clickhouse',
    status       LowCardinality(String) COMMENT 'draft (test runs only), published (scheduled) or paused',
    connection   String COMMENT 'Connection settings without credentials, JSON object',
    secret_token String COMMENT 'Credentials as a Fernet token (JSON object inside); never plain text',
    query        String COMMENT 'SQL returning external_customer_id, metric_key, value and optional columns',
    interval_s   UInt32 COMMENT 'Seconds between the starts of two scheduled runs',
    watermark_column String COMMENT 'Column whose maximum becomes the next run''s bound; empty = full re-read',
    lookback_s   UInt32 COMMENT 'Each run re-reads this many seconds before the watermark',
    created_at   DateTime64(3, 'UTC') COMMENT 'When the source was created',
    published_at Nullable(DateTime64(3, 'UTC')) COMMENT 'When the source was (last) published',
    version      UInt64 COMMENT 'Row version: highest wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, source_id)
COMMENT 'Warehouse sources of each organization. One current row per (org_id, source_id).';

CREATE TABLE IF NOT EXISTS warehouse_runs
(
    org_id         String COMMENT 'Organization',
    source_id      String COMMENT 'Source',
    run_id         String COMMENT 'Run ID',
    status         LowCardinality(String) COMMENT 'running, succeeded or failed',
    started_at     DateTime64(3, 'UTC') COMMENT 'When the run started',
    finished_at    Nullable(DateTime64(3, 'UTC')) COMMENT 'When the run ended (null while running)',
    attempts       UInt16 COMMENT 'Attempts made (retries with backoff when the warehouse or broker is down)',
    rows_read      UInt64 COMMENT 'Rows read from the warehouse (last attempt)',
    rows_written   UInt64 COMMENT 'Rows produced to the event log and acknowledged (last attempt)',
    rows_unmatched UInt64 COMMENT 'Valid rows whose external_customer_id did not resolve',
    rows_invalid   UInt64 COMMENT 'Rows that failed validation',
    since          Nullable(DateTime64(6, 'UTC')) COMMENT 'Lower bound given to the query (watermark - lookback)',
    watermark      Nullable(DateTime64(6, 'UTC')) COMMENT 'Watermark after the run (unchanged when it failed)',
    error          String COMMENT 'Why the run failed (credentials redacted), else empty',
    scheduler_id   String COMMENT 'The scheduler (lease holder) that ran it',
    version        UInt64 COMMENT 'Row version: highest wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, source_id, started_at, run_id)
TTL toDateTime(started_at) + INTERVAL 90 DAY
COMMENT 'One row per warehouse run (updated when it ends), kept 90 days.';

CREATE TABLE IF NOT EXISTS warehouse_scheduler_lease
(
    name       String COMMENT 'Lease name (one scheduler across ingress replicas)',
    holder     String COMMENT 'Scheduler ID of the holder',
    expires_at DateTime64(3, 'UTC') COMMENT 'The lease is free after this instant unless renewed',
    version    UInt64 COMMENT 'Claim version (microseconds): the highest claim is the current one'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name
COMMENT 'Which ingress replica runs the warehouse scheduler.';
