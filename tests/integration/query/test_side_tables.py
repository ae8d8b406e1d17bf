"""Migrations 0030, 0050 and 0051: the read-side tables are backfilled from existing usage rows,
fed by their views afterwards, and dropped by their down files."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.clickhouse import make_client
from core.names import (
    USAGE_EVENT_LOCATOR,
    USAGE_EVENTS_BY_CUSTOMER,
    USAGE_EVENTS_BY_PERIOD,
    USAGE_PROPERTY_SETS,
)
from core.settings import ClickHouseSettings
from infra.migrate import discover_migrations, split_statements
from tests.integration.query.conftest import Seeder, bearer

pytestmark = pytest.mark.clickhouse


def run_migration(client: Any, number: int, direction: str) -> None:
    """Applies migration ``number``'s ``up`` or ``down`` file."""
    (migration,) = [m for m in discover_migrations() if m.number == number]
    path = migration.path if direction == "up" else migration.down_path
    for statement in split_statements(path.read_text()):
        client.command(statement)


def test_existing_rows_are_backfilled(
    api: TestClient, seeder: Seeder, clickhouse_settings: ClickHouseSettings
) -> None:
    client = make_client(clickhouse_settings)
    run_migration(client, 30, "down")
    tables = client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
    assert USAGE_EVENTS_BY_CUSTOMER not in {row[0] for row in tables}
    key = seeder.api_key("org-a")
    event_id = seeder.event("org-a", "c1", "m", datetime(2026, 6, 11, 9, 30, tzinfo=UTC), 7)

    run_migration(client, 30, "up")
    for table in (USAGE_EVENT_LOCATOR, USAGE_EVENTS_BY_CUSTOMER):
        assert client.command(f"SELECT count() FROM {table}") == 1
    assert api.get(f"/v1/events/{event_id}", headers=bearer(key)).json()["value"] == 7
    later = seeder.event("org-a", "c1", "m", datetime(2026, 6, 12, tzinfo=UTC), 8)  # through the views
    found = api.post("/v1/events/search", headers=bearer(key), json={"customer_id": "c1"}).json()
    assert found["total"] == 2 and {ev["event_id"] for ev in found["events"]} == {event_id, later}


def test_property_sets_are_backfilled_and_fed_by_the_view(
    api: TestClient, seeder: Seeder, clickhouse_settings: ClickHouseSettings
) -> None:
    client = make_client(clickhouse_settings)
    run_migration(client, 50, "down")
    key = seeder.api_key("org-a")
    june = datetime(2026, 6, 11, 9, 30, tzinfo=UTC)
    seeder.event("org-a", "c1", "m", june, 7, properties={"plan": "pro"})
    seeder.event("org-a", "c2", "m", june, 8, properties={"plan": "pro"})

    run_migration(client, 50, "up")
    texts = (
        f"SELECT DISTINCT properties FROM {USAGE_PROPERTY_SETS} WHERE org_id = 'org-a' ORDER BY properties"
    )
    assert client.query(texts).result_rows == [('{"plan":"pro"}',)]
    seeder.event("org-a", "c3", "m", june, 9, properties={"plan": "free"})  # through the view
    assert client.query(texts).result_rows == [('{"plan":"free"}',), ('{"plan":"pro"}',)]
    found = api.post(
        "/v1/events/search", headers=bearer(key), json={"event_property_filters": {"plan": "pro"}}
    )
    assert found.json()["total"] == 2


def test_the_period_ordered_copy_is_backfilled_and_fed_by_the_view(
    api: TestClient, seeder: Seeder, clickhouse_settings: ClickHouseSettings
) -> None:
    client = make_client(clickhouse_settings)
    run_migration(client, 51, "down")
    key = seeder.api_key("org-a")
    june = datetime(2026, 6, 11, 9, 30, tzinfo=UTC)
    first = seeder.event("org-a", "c1", "m", june, 7)

    run_migration(client, 51, "up")
    assert client.command(f"SELECT count() FROM {USAGE_EVENTS_BY_PERIOD}") == 1
    later = seeder.event("org-a", "c2", "m", june, 8)  # through the view
    found = api.post(
        "/v1/events/search", headers=bearer(key), json={"created_at_from": "2026-06-01T00:00:00Z"}
    )
    assert found.json()["total"] == 2 and [ev["event_id"] for ev in found.json()["events"]] == sorted(
        [first, later]
    )
