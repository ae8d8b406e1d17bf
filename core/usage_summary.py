"""Monthly summaries of the current usage values (``usage_monthly``, migration 0100): what the
streams worker's refresher writes and the usage query reads agree on here (pure).

A month's summary is tagged with the *version* of the month's partition of
``usage_events_by_metric`` it was made from: the highest block number or mutation version among the
partition's active parts. ClickHouse numbers blocks in commit order (a plain MergeTree takes a
part's block number and adds the part to the active set atomically, under the parts lock, in
``MergeTreeData::renameTempPartAndReplace``; a ReplicatedMergeTree does not) and a merge keeps the
highest number of its parts, so the version rises with every insert or mutation in the month and
never with a merge. A summary at the partition's current version therefore holds exactly the
month's current values; a reader uses it only then, and reads every other month from the daily
values.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.names import USAGE_EVENTS_BY_METRIC


def partition_versions_sql(months_parameter: str | None = None) -> str:
    """(month as YYYYMM, version) of every partition of ``usage_events_by_metric`` (of the months in
    the ``Array(UInt32)`` parameter ``months_parameter`` when given)."""
    sql = (
        "SELECT toUInt32(partition_id) AS month, "
        "max(greatest(max_block_number, data_version)) AS version FROM system.parts "
        f"WHERE database = currentDatabase() AND table = '{USAGE_EVENTS_BY_METRIC}' AND active"
    )
    if months_parameter is not None:
        sql += (
            f" AND partition_id IN arrayMap(month -> toString(month), {{{months_parameter}:Array(UInt32)}})"
        )
    return sql + " GROUP BY partition_id"


def month_number(moment: datetime) -> int:
    """YYYYMM of the UTC month holding ``moment``."""
    moment = moment.astimezone(UTC)
    return moment.year * 100 + moment.month


def month_start(number: int) -> datetime:
    return datetime(number // 100, number % 100, 1, tzinfo=UTC)


def next_month(number: int) -> int:
    year, month = divmod(number, 100)
    return (year + 1) * 100 + 1 if month == 12 else number + 1


def whole_months(first: int, last: int) -> list[int]:
    """The UTC months lying wholly inside ``[first, last]`` (inclusive bounds, seconds since the
    epoch), as YYYYMM."""
    start = datetime.fromtimestamp(first, UTC)
    number = month_number(start)
    if start != month_start(number):
        number = next_month(number)
    months: list[int] = []
    while month_start(next_month(number)).timestamp() - 1 <= last:
        months.append(number)
        number = next_month(number)
    return months


def months_cover(months: list[int], first: int, last: int) -> bool:
    """Whether ``months`` (YYYYMM, ascending) are exactly the months of ``[first, last]``."""
    return (
        bool(months)
        and months == whole_months(first, last)
        and month_start(months[0]).timestamp() == first
        and month_start(next_month(months[-1])).timestamp() - 1 == last
    )
