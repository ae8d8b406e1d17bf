"""Insert groups that respect ClickHouse's partition limit per INSERT block. Pure logic.

The server refuses a block that touches more than ``max_partitions_per_insert_block`` partitions
(100 by default) of any table it reaches, the materialized views' targets included. A batch
insert reaches (infra/migrations): ``usage_event_history`` by month of ``ingested_at``;
``usage_events``, ``usage_events_by_period`` (0051) and ``usage_events_by_metric`` (0071) by month
of ``period_start``; ``usage_events_by_customer`` (0030) by year of ``period_start`` (fewer than
months); the locator (0030) and property-set (0050) tables are not partitioned. So a group has at
most ``limit`` distinct ``period_start`` months and at most ``limit`` distinct ``ingested_at``
months. A usual batch (a few months) is one group, in order. A new view fed by these inserts must
partition by a key no finer than these months, or be added here.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.names import USAGE_EVENT_COLUMNS

PERIOD_START = USAGE_EVENT_COLUMNS.index("period_start")  # seconds (``streams.rows``)
INGESTED_AT = USAGE_EVENT_COLUMNS.index("ingested_at")  # microseconds

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def month_of_seconds(seconds: int) -> int:
    """``toYYYYMM`` of a moment in seconds (any int: rows the server will refuse are grouped too)."""
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return -1 if seconds < 0 else 10**8
    return moment.year * 100 + moment.month


def month_of_micros(micros: int) -> int:
    return month_of_seconds(micros // 1_000_000)


def insert_groups(rows: Sequence[tuple[Any, ...]], limit: int) -> list[list[int]]:
    """Row indices in groups of at most ``limit`` months per partition key (``limit`` 0: no limit)."""
    everything = list(range(len(rows)))
    if limit <= 0 or not rows:
        return [everything]
    period_months = {month_of_seconds(s) for s in {row[PERIOD_START] for row in rows}}
    ingested = [row[INGESTED_AT] for row in rows]
    if len(period_months) <= limit and _months_between(min(ingested), max(ingested)) <= limit:
        return [everything]
    by_months: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_months[(month_of_seconds(row[PERIOD_START]), month_of_micros(row[INGESTED_AT]))].append(index)
    groups: list[list[int]] = []
    current: list[int] = []
    periods: set[int] = set()
    ingestions: set[int] = set()
    for (period, ingestion), indices in sorted(by_months.items()):
        if len(periods | {period}) > limit or len(ingestions | {ingestion}) > limit:
            groups.append(current)
            current, periods, ingestions = [], set(), set()
        current.extend(indices)
        periods.add(period)
        ingestions.add(ingestion)
    groups.append(current)
    return [sorted(group) for group in groups]


def _months_between(first_micros: int, last_micros: int) -> int:
    """How many calendar months ``[first, last]`` touches."""
    first, last = month_of_micros(first_micros), month_of_micros(last_micros)
    return (last // 100 - first // 100) * 12 + (last % 100 - first % 100) + 1
