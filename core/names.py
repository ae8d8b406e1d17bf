"""Every ClickHouse table name, in one place (topic names live in ``KafkaSettings``)."""

# Control plane (written by the admin API, read by ingress and query).
ORGANIZATIONS = "organizations"
API_KEYS = "api_keys"
CUSTOMERS = "customers"
CUSTOMER_EXTERNAL_IDS = "customer_external_ids"
PUSH_CONFIGURATIONS = "push_configurations"
METRIC_SIGHTINGS = "metric_sightings"
METRIC_ROLLUPS = "metric_rollups"

# Usage (written by streams only, read by query and data teams).
USAGE_EVENTS = "usage_events"
USAGE_EVENT_HISTORY = "usage_event_history"

# Read-side copies of usage_events, filled by materialized views (read by query only).
USAGE_EVENT_LOCATOR = "usage_event_locator"  # infra/migrations/0030_query_side_tables.sql
USAGE_EVENTS_BY_CUSTOMER = "usage_events_by_customer"  # infra/migrations/0030_query_side_tables.sql
USAGE_PROPERTY_SETS = "usage_property_sets"  # infra/migrations/0050_property_sets.sql
USAGE_EVENTS_BY_PERIOD = "usage_events_by_period"  # infra/migrations/0051_usage_events_by_period.sql
USAGE_EVENTS_BY_METRIC = "usage_events_by_metric"  # infra/migrations/0071_usage_events_by_metric.sql
# Monthly summaries of usage_events_by_metric (written by the streams worker's refresher only).
USAGE_MONTHLY = "usage_monthly"  # infra/migrations/0100_usage_monthly.sql
USAGE_MONTHLY_BY_PROPERTIES = "usage_monthly_by_properties"  # infra/migrations/0100_usage_monthly.sql
USAGE_MONTHLY_REFRESHES = "usage_monthly_refreshes"  # infra/migrations/0100_usage_monthly.sql

# Usage rolled up over windows (infra/migrations/0070_usage_rollups.sql; read by query, the panel
# and data teams).
METRIC_ROLLUPS_CURRENT = "metric_rollups_current"  # each metric's configured rollup
USAGE_ROLLUP = "usage_rollup"  # parameterized view for data teams

# The push path (written and read by ingress).
IDEMPOTENCY_RESPONSES = "idempotency_responses"  # infra/migrations/0010_idempotency_responses.sql
PUSH_CALLS = "push_calls"  # infra/migrations/0011_push_calls.sql

# Columns of usage_events and usage_event_history, in insert order (infra/migrations/0002_usage.sql).
USAGE_EVENT_COLUMNS: tuple[str, ...] = (
    "org_id",
    "customer_id",
    "metric_key",
    "granularity",
    "period_start",
    "event_id",
    "external_customer_id",
    "event_type",
    "value",
    "created_at",
    "properties",
    "ingested_at",
    "version",
    "source_partition",
    "source_offset",
)

# Warehouse sources (written and read by ingress only).
WAREHOUSE_SOURCES = "warehouse_sources"
WAREHOUSE_RUNS = "warehouse_runs"
WAREHOUSE_SCHEDULER_LEASE = "warehouse_scheduler_lease"

# Bookkeeping.
SCHEMA_MIGRATIONS = "schema_migrations"
