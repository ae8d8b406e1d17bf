"""The monthly summary refresher (``streams.summary``) against ClickHouse: a month summarized again
while its older summary is still kept."""

from __future__ import annotations

from typing import Any

import pytest

from core.clickhouse import make_client
from core.settings import ClickHouseSettings
from core.usage_rollup import (
    USAGE_EVENTS_BY_METRIC,
    current_summaries,
    rollup_page,
    run_usage_query,
    validate_usage_query,
)
from infra.migrate import discover_migrations, split_statements
from streams.summary import SummaryRefresher

pytestmark = pytest.mark.clickhouse

ORG = "org-summary"


def _write(client: Any, month: str, value: float, version: int) -> None:
    """One block of daily values (3 customers x 2 properties texts x 4 days) in ``month``."""
    client.command(
        f"""
        INSERT INTO usage_events (org_id, customer_id, metric_key, granularity, period_start, event_id,
                                  value, properties, version)
        SELECT '{ORG}', concat('c', toString(n % 3)), 'calls', 'daily',
               toDateTime('{month}-01 00:00:00', 'UTC') + toIntervalDay(intDiv(n, 3)),
               generateUUIDv4(), {value} + n,
               if(n % 2 = 0, '{{"region":"eu"}}', '{{"region":"us"}}'), {version}
        FROM (SELECT number AS n FROM numbers(12))
        """
    )


def _summary_version(client: Any, month: int) -> int:
    """The version of ``month``'s current complete summary (0: the month is read from its values)."""
    statement = current_summaries([month])
    rows = client.query(statement.sql, parameters=statement.parameters).result_rows
    return int(rows[0][1]) if rows else 0


def test_a_month_summarized_again_while_its_older_summary_is_kept(
    clickhouse_settings: ClickHouseSettings,
) -> None:
    client = make_client(clickhouse_settings)
    try:
        # Blocks 1-8 go to March, so January's first version is 9 and its next one 10: partition
        # IDs "202601-10" and "202601-9" sort the other way round as text.
        for index in range(8):
            _write(client, "2026-03", 1.0, index + 1)
        _write(client, "2026-01", 10.0, 1)
        refresher = SummaryRefresher(lambda: make_client(clickhouse_settings))
        refresher.refresh(settled_only=False)
        assert _summary_version(client, 202601) == 9

        _write(client, "2026-01", 100.0, 2)  # replaces every January value
        refresher.refresh(settled_only=False)
        assert _summary_version(client, 202601) == 10  # summarized again; the one at 9 is kept

        def run(statement: Any) -> list[Any]:
            return list(client.query(statement.sql, parameters=statement.parameters).result_rows)

        for group_by in (["customer"], [], ["property:region"]):
            query = validate_usage_query(
                {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "group_by": group_by}
            )
            answer = run_usage_query(ORG, query, run, USAGE_EVENTS_BY_METRIC).to_json()["series"]
            from_values = run(rollup_page(ORG, query, None, {}, USAGE_EVENTS_BY_METRIC, ()))
            assert [window["value"] for series in answer for window in series["windows"]] == [
                value for row in from_values for value in row[6]
            ]
            # 12 values of 100 + n (n = 0..11): 1266 in all
            assert sum(window["value"] for series in answer for window in series["windows"]) == 1266
    finally:
        client.close()


def test_migration_0101_has_every_month_summarized_again(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    try:
        _write(client, "2026-01", 10.0, 1)
        refresher = SummaryRefresher(lambda: make_client(clickhouse_settings))
        refresher.refresh(settled_only=False)
        version = _summary_version(client, 202601)
        assert version > 0

        (rebuild,) = [m for m in discover_migrations() if m.number == 101]
        for statement in split_statements(rebuild.path.read_text()):
            client.command(statement)
        assert _summary_version(client, 202601) == 0  # read from the values meanwhile
        assert client.command("SELECT count() FROM usage_monthly") == 0
        assert refresher.refresh(settled_only=False).summarized == [202601]
        assert _summary_version(client, 202601) == version
        assert split_statements(rebuild.down_path.read_text()) == []  # nothing to undo
    finally:
        client.close()
