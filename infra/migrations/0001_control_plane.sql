-- Control plane: organizations, API keys (hashed), customers and their external IDs, Push API
-- configurations, discovered metrics. Written by the admin API; read by ingress (into memory)
-- and by query (auth, external ID resolution). Every table is versioned: the row with the
-- highest `version` is the current one (read with FINAL or argMax).

CREATE TABLE IF NOT EXISTS organizations
(
    org_id     String COMMENT 'Organization ID (opaque, stable)',
    name       String COMMENT 'Display name',
    created_at DateTime64(3, 'UTC') COMMENT 'When the organization was created',
    version    UInt64 COMMENT 'Row version: highest wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY org_id
COMMENT 'Organizations (no secrets). One current row per org_id.';

CREATE TABLE IF NOT EXISTS api_keys
(
    org_id     String COMMENT 'Organization the key belongs to',
    key_hash   String COMMENT 'SHA-256 hex of the key; the key itself is never stored',
    key_prefix String COMMENT 'First characters of the key, to recognize it in logs',
    created_at DateTime64(3, 'UTC') COMMENT 'When the key was generated',
    version    UInt64 COMMENT 'Row version: the highest is the current key; older ones are revoked'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY org_id
COMMENT 'The current API key hash of each organization (one key per organization).';

CREATE TABLE IF NOT EXISTS customers
(
    org_id      String COMMENT 'Organization',
    customer_id String COMMENT 'Customer ID used by the retrieval API',
    name        String COMMENT 'Display name',
    updated_at  DateTime64(3, 'UTC') COMMENT 'Last change',
    version     UInt64 COMMENT 'Row version: highest wins',
    is_deleted  UInt8 DEFAULT 0 COMMENT '1 when the customer was removed'
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (org_id, customer_id)
COMMENT 'Customers of each organization.';

CREATE TABLE IF NOT EXISTS customer_external_ids
(
    org_id      String COMMENT 'Organization',
    external_id String COMMENT 'External ID (e.g. a Salesforce or HubSpot ID); unique within the organization',
    source      LowCardinality(String) COMMENT 'Where the ID comes from: salesforce, hubspot, stripe, internal...',
    customer_id String COMMENT 'The customer this external ID resolves to',
    version     UInt64 COMMENT 'Row version: highest wins',
    is_deleted  UInt8 DEFAULT 0 COMMENT '1 when the external ID was removed'
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (org_id, external_id)
COMMENT 'External IDs of customers: join usage_events.external_customer_id or customer_id here.';

CREATE TABLE IF NOT EXISTS push_configurations
(
    org_id       String COMMENT 'Organization',
    source       LowCardinality(String) COMMENT 'Configuration source; push_api',
    status       LowCardinality(String) COMMENT 'draft or published',
    created_at   DateTime64(3, 'UTC') COMMENT 'When the configuration was created',
    published_at Nullable(DateTime64(3, 'UTC')) COMMENT 'When it was published',
    version      UInt64 COMMENT 'Row version: highest wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY org_id
COMMENT 'Push API configuration of each organization. Pushes are verify-only until published.';

CREATE TABLE IF NOT EXISTS metric_sightings
(
    org_id        String COMMENT 'Organization',
    metric_key    String COMMENT 'Metric key seen in a push',
    first_seen_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')) COMMENT 'First push that named it',
    last_seen_at  SimpleAggregateFunction(max, DateTime64(3, 'UTC')) COMMENT 'Latest push that named it'
)
ENGINE = AggregatingMergeTree
ORDER BY (org_id, metric_key)
COMMENT 'Metric keys discovered from pushes (verify-only ones too). Aggregate with min/max.';

CREATE TABLE IF NOT EXISTS metric_rollups
(
    org_id     String COMMENT 'Organization',
    metric_key String COMMENT 'Metric key',
    rollup     LowCardinality(String) COMMENT 'sum, max, min, avg or last',
    version    UInt64 COMMENT 'Row version: highest wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, metric_key)
COMMENT 'Rollup chosen for a metric; a metric without a row here rolls up with sum.';
