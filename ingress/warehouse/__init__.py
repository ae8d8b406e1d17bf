"""Warehouse sources: pull usage rows from BigQuery, Snowflake or ClickHouse on a schedule."""
