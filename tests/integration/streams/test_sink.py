"""The sink's single insert: usage_event_history feeds usage_events (migration 0040) and the query side."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.clickhouse import make_client
from core.records import UsageRecord
from core.settings import ClickHouseSettings
from infra.migrate import discover_migrations, split_statements
from streams.batch import Incoming, plan_batch
from streams.settings import StreamsSettings
from streams.sink import ClickHouseSink
from tests.integration.streams.helpers import record

pytestmark = pytest.mark.clickhouse


def test_one_insert_fills_history_current_values_and_the_query_side(
    clickhouse_settings: ClickHouseSettings, tmp_path: Path
) -> None:
    first, second = record(value=1.0), record(value=7.0)  # same key, the second is later
    other = record(customer="c2", value=3.0)
    items = [Incoming(r.key.to_bytes(), r.to_bytes(), 0, i) for i, r in enumerate([first, second, other])]
    plan = plan_batch(items, {})
    sink = ClickHouseSink(clickhouse_settings, StreamsSettings(data_dir=tmp_path))
    asyncio.run(sink.write(plan.rows))
    asyncio.run(sink.write(plan.rows))  # a replayed batch: identical rows collapse

    client = make_client(clickhouse_settings)
    try:

        def rows(sql: str) -> list[tuple[object, ...]]:
            return [tuple(row) for row in client.query(sql).result_rows]

        assert rows("SELECT toString(event_id), value FROM usage_event_history FINAL ORDER BY value") == [
            (first.event_id, 1.0),
            (other.event_id, 3.0),
            (second.event_id, 7.0),
        ]
        assert sorted(
            rows("SELECT toString(event_id), value, source_offset FROM usage_events_current")
        ) == sorted([(second.event_id, 7.0, 1), (other.event_id, 3.0, 2)])
        # The same values the worker wrote before (datetimes and UUIDs from plain ints).
        assert rows(
            "SELECT toString(period_start), toString(ingested_at), toString(created_at) "
            "FROM usage_events FINAL WHERE value = 7"
        ) == [("2026-11-20 00:00:00", *_micros_text(second.ingested_at_us, second.created_at_us))]
        # Chained views of the query side (migration 0030) see the rows that the view inserts.
        assert rows("SELECT count() FROM usage_event_locator FINAL") == [(2,)]
        assert rows("SELECT value FROM usage_events_by_customer FINAL ORDER BY value") == [(3.0,), (7.0,)]
    finally:
        client.close()


def _micros_text(*micros: int) -> tuple[str, ...]:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return tuple((epoch + timedelta(microseconds=m)).strftime("%Y-%m-%d %H:%M:%S.%f") for m in micros)


def test_migration_0040_applies_again_without_effect(clickhouse_settings: ClickHouseSettings) -> None:
    migration = next(m for m in discover_migrations() if m.number == 40)
    client = make_client(clickhouse_settings)
    try:
        for statement in split_statements(migration.path.read_text()):
            client.command(statement)  # IF NOT EXISTS: the database already has it
        views = client.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND engine = 'MaterializedView' AND name = 'usage_events_from_history_mv'"
        ).result_rows
        assert len(views) == 1
    finally:
        client.close()


def _items(records: list[UsageRecord]) -> list[Incoming]:
    return [Incoming(r.key.to_bytes(), r.to_bytes(), 0, i) for i, r in enumerate(records)]


def test_a_refused_row_is_isolated_and_every_other_row_is_stored(
    clickhouse_settings: ClickHouseSettings, tmp_path: Path
) -> None:
    good = [record(org=f"org-{i % 3}", customer=f"c{i}", value=float(i)) for i in range(40)]
    beyond_datetime = record(org="hostile", period="2150-01-01T00:00:00Z")  # DateTime ends in 2106
    before_datetime = record(org="hostile", customer="w", granularity="weekly", period="1969-12-29T00:00:00Z")
    records = [*good[:17], beyond_datetime, *good[17:30], before_datetime, *good[30:]]
    plan = plan_batch(_items(records), {})
    assert not plan.dead_letters  # only the server knows: the sink must find them
    sink = ClickHouseSink(clickhouse_settings, StreamsSettings(data_dir=tmp_path, retry_max_s=0.2))

    refused = asyncio.run(asyncio.wait_for(sink.write(plan.rows), 60))

    assert [row.index for row in refused] == [17, 31]
    assert all("period_start" in row.reason for row in refused)
    client = make_client(clickhouse_settings)
    try:
        stored = client.query("SELECT toString(event_id), value FROM usage_events FINAL").result_rows
    finally:
        client.close()
    assert {str(event_id): value for event_id, value in stored} == {r.event_id: r.value for r in good}


def test_a_backfill_over_more_months_than_the_partition_limit_is_stored(
    clickhouse_settings: ClickHouseSettings, tmp_path: Path
) -> None:
    months = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01T00:00:00Z" for i in range(101)]
    records = [
        record(org=f"org-{tenant}", granularity="monthly", period=month, value=float(i))
        for tenant in range(3)
        for i, month in enumerate(months)
    ]
    plan = plan_batch(_items(records), {})
    sink = ClickHouseSink(clickhouse_settings, StreamsSettings(data_dir=tmp_path, retry_max_s=0.2))

    assert asyncio.run(asyncio.wait_for(sink.write(plan.rows), 60)) == []

    client = make_client(clickhouse_settings)
    try:
        for table in (
            "usage_events",
            "usage_events_by_period",
            "usage_events_by_customer",
            "usage_events_by_metric",
        ):
            count = client.query(f"SELECT count() FROM {table} FINAL").result_rows[0][0]
            assert count == len(records), table
    finally:
        client.close()
