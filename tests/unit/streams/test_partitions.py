"""Insert groups within the server's partition limit per INSERT block."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.names import USAGE_EVENT_COLUMNS
from streams.partitions import INGESTED_AT, PERIOD_START, insert_groups, month_of_micros, month_of_seconds


def row(period: datetime, ingested: datetime) -> tuple[Any, ...]:
    values: list[Any] = [None] * len(USAGE_EVENT_COLUMNS)
    values[PERIOD_START] = int(period.timestamp())
    values[INGESTED_AT] = int(ingested.timestamp() * 1_000_000)
    return tuple(values)


NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def months(rows: list[tuple[Any, ...]], group: list[int], column: int) -> set[int]:
    to_month = month_of_seconds if column == PERIOD_START else month_of_micros
    return {to_month(rows[i][column]) for i in group}


def test_a_usual_batch_is_one_group_in_order() -> None:
    rows = [row(datetime(2026, m, 1, tzinfo=UTC), NOW) for m in (3, 1, 2)]
    assert insert_groups(rows, 100) == [[0, 1, 2]]


def test_a_long_backfill_is_split_into_groups_within_the_limit() -> None:
    rows = [row(datetime(2000 + i // 12, i % 12 + 1, 1, tzinfo=UTC), NOW) for i in range(101)] * 2
    groups = insert_groups(rows, 100)
    assert sorted(i for group in groups for i in group) == list(range(len(rows)))
    assert len(groups) == 2
    assert all(len(months(rows, group, PERIOD_START)) <= 100 for group in groups)


def test_ingestion_months_count_too() -> None:
    period = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [row(period, datetime(2010 + i // 12, i % 12 + 1, 1, tzinfo=UTC)) for i in range(7)]
    groups = insert_groups(rows, 3)
    assert sorted(i for group in groups for i in group) == list(range(7))
    assert all(len(months(rows, group, INGESTED_AT)) <= 3 for group in groups)
    assert len(groups) == 3


def test_no_limit_and_moments_beyond_any_calendar() -> None:
    rows = [row(datetime(2000 + i, 1, 1, tzinfo=UTC), NOW) for i in range(200)]
    assert insert_groups(rows, 0) == [list(range(200))]
    assert month_of_seconds(2**62) == 10**8
    assert month_of_seconds(int(datetime(2150, 1, 1, tzinfo=UTC).timestamp())) == 215001
