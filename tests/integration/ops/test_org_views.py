"""Migrations 0090 and 0091: per-organization events written and dead letters per day, replays
and letters delivered twice counted once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import orjson
import pytest

from core.clickhouse import make_client
from core.dead_letters import DEAD_LETTERS
from core.names import USAGE_EVENT_HISTORY
from core.settings import ClickHouseSettings
from infra.migrate import discover_migrations, split_statements
from streams.rows import COLUMNS, event_id_int

pytestmark = pytest.mark.clickhouse


def _row(org: str, customer: str, metric: str, ingested: datetime, version: int) -> list[object]:
    key = orjson.dumps([org, customer, metric, "daily", "2026-06-01T00:00:00Z"])
    values = {
        "org_id": org,
        "customer_id": customer,
        "metric_key": metric,
        "granularity": "daily",
        "period_start": datetime(2026, 6, 1, tzinfo=UTC),
        "event_id": uuid.UUID(int=event_id_int(key)),
        "external_customer_id": f"ext-{customer}",
        "event_type": "credit",
        "value": 1.0,
        "created_at": ingested,
        "properties": "{}",
        "ingested_at": ingested,
        "version": version,
        "source_partition": 0,
        "source_offset": version,
    }
    return [values[column] for column in COLUMNS]


def test_events_written_per_day_per_organization(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    june_1 = datetime(2026, 6, 1, 10, tzinfo=UTC)
    june_2 = datetime(2026, 6, 2, 10, tzinfo=UTC)
    rows = [
        _row("org-a", "c1", "api_calls", june_1, 1),
        _row("org-a", "c1", "api_calls", june_1, 2),  # the same value written again: a second write
        _row("org-a", "c2", "api_calls", june_1, 1),
        _row("org-a", "c1", "seats", june_2, 1),
        _row("org-b", "c9", "api_calls", june_2, 1),
    ]
    client.insert(USAGE_EVENT_HISTORY, rows, column_names=list(COLUMNS))
    client.insert(USAGE_EVENT_HISTORY, rows[:1], column_names=list(COLUMNS))  # a replayed batch
    result = client.query(
        "SELECT org_id, day, events_written, values_written, customers FROM org_events_per_day "
        "ORDER BY org_id, day"
    ).result_rows
    assert [tuple(row) for row in result] == [
        ("org-a", date(2026, 6, 1), 3, 2, 2),
        ("org-a", date(2026, 6, 2), 1, 1, 1),
        ("org-b", date(2026, 6, 2), 1, 1, 1),
    ]


def test_dead_letters_per_day_per_organization(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    columns = ["org_id", "letter_id", "dead_lettered_at", "reason", "source", "record_key", "record"]
    first = uuid.uuid4()
    rows = [
        ["org-a", first, datetime(2026, 6, 1, 10, tzinfo=UTC), "bad", "t/0/1", "k", "v"],
        ["org-a", uuid.uuid4(), datetime(2026, 6, 1, 11, tzinfo=UTC), "bad", "t/0/2", "k", "v"],
        ["org-b", uuid.uuid4(), datetime(2026, 6, 2, 9, tzinfo=UTC), "bad", "t/1/7", "k", "v"],
    ]
    client.insert(DEAD_LETTERS, rows, column_names=columns)
    client.insert(DEAD_LETTERS, rows[:1], column_names=columns)  # the same letter delivered twice
    result = client.query(
        "SELECT org_id, day, dead_letters FROM org_dead_letters_per_day ORDER BY org_id, day"
    ).result_rows
    assert [tuple(row) for row in result] == [("org-a", date(2026, 6, 1), 2), ("org-b", date(2026, 6, 2), 1)]


@pytest.mark.parametrize(("number", "view"), [(91, "org_dead_letters_per_day"), (90, "org_events_per_day")])
def test_the_down_migrations_drop_the_views(
    clickhouse_settings: ClickHouseSettings, number: int, view: str
) -> None:
    client = make_client(clickhouse_settings)
    (migration,) = [m for m in discover_migrations() if m.number == number]
    assert migration.down_path is not None
    for statement in split_statements(migration.down_path.read_text()):
        client.command(statement)
    tables = {row[0] for row in client.query("SHOW TABLES").result_rows}
    assert view not in tables
