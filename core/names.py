"""ClickHouse table names shared by the services (topic names live in ``KafkaSettings``)."""

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
USAGE_EVENTS_CURRENT = "usage_events_current"

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

# Bookkeeping.
SCHEMA_MIGRATIONS = "schema_migrations"
