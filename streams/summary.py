"""The monthly summary refresher: keeps ``usage_monthly`` current for the usage query (the only
writer of it; ``core.usage_summary`` explains the versions).

Every ``summary_interval_s`` a round reads the version of every month's partition of
``usage_events_by_metric`` and summarizes each month that

* has no complete summary at its current version, and
* kept that version since the previous round (a month still being written, usually the current
  one, stays with its daily values instead of being summarized again every round).

A month is summarized with one ``INSERT … SELECT … FINAL`` per customer and properties text
(``usage_monthly_by_properties``), then per customer from those rows (``usage_monthly``), both
tagged with the version read before;
the summary is marked complete (a row in ``usage_monthly_refreshes``) only if the version is still
the same afterwards, so the snapshot it read held exactly the blocks up to that version. Several
workers may refresh side by side: two complete summaries of one version hold the same rows, which
``FINAL`` collapses. Summaries a newer complete one replaced a minute ago or more, and incomplete
ones below the current version, are dropped (their partitions).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.names import (
    USAGE_EVENTS_BY_METRIC,
    USAGE_MONTHLY,
    USAGE_MONTHLY_BY_PROPERTIES,
    USAGE_MONTHLY_REFRESHES,
)
from core.usage_summary import month_start, next_month, partition_versions_sql

if TYPE_CHECKING:
    import faust
    from clickhouse_connect.driver.client import Client

    from core.settings import ClickHouseSettings
    from streams.settings import StreamsSettings

log = logging.getLogger(__name__)

# A replaced summary is kept this long for usage queries that chose it just before.
REPLACED_KEPT_S = 60.0

# A month's values per customer and properties text, then those rows per customer (the partials
# combine exactly; FINAL collapses the rows of a concurrent refresh of the same version). FINAL
# must not merge across partitions: the month's older summaries (other versions, kept a minute for
# readers) share every sorting key, and FINAL would keep one of their rows, which the filter on
# ``source_version`` (applied after FINAL) then drops.
_SUMMARIZE_BY_PROPERTIES = f"""
INSERT INTO {USAGE_MONTHLY_BY_PROPERTIES}
SELECT org_id, granularity, metric_key, toStartOfMonth(period_start) AS month, customer_id, properties,
       {{version:UInt64}}, sum(value), min(value), max(value), count(), argMax(value, period_start),
       max(period_start)
FROM {USAGE_EVENTS_BY_METRIC} FINAL
WHERE period_start >= toDateTime({{start:UInt32}}, 'UTC') AND period_start < toDateTime({{end:UInt32}}, 'UTC')
GROUP BY org_id, granularity, metric_key, month, customer_id, properties
"""
_SUMMARIZE = f"""
INSERT INTO {USAGE_MONTHLY}
SELECT org_id, granularity, metric_key, month, customer_id, source_version, sum(part_sum), min(part_min),
       max(part_max), sum(part_count), argMax(part_last, part_last_period), max(part_last_period)
FROM {USAGE_MONTHLY_BY_PROPERTIES} FINAL
WHERE toYYYYMM(month) = {{month:UInt32}} AND source_version = {{version:UInt64}}
GROUP BY org_id, granularity, metric_key, month, customer_id, source_version
SETTINGS do_not_merge_across_partitions_select_final = 1
"""
_SUMMARY_TABLES = (USAGE_MONTHLY, USAGE_MONTHLY_BY_PROPERTIES)


@dataclass
class RefreshRound:
    """What one round did: months summarized, months written meanwhile (summarized again later),
    months still waiting (written since the previous round, or not yet reached), partitions dropped."""

    summarized: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    seconds: float = 0.0


class SummaryRefresher:
    """Runs refresh rounds with a client from ``connect`` (blocking: call it from a thread)."""

    def __init__(
        self, connect: Callable[[], Client], on_summary: Callable[[str, float], None] | None = None
    ) -> None:
        self._connect = connect
        self._client: Client | None = None
        self._seen: dict[int, int] = {}  # month -> version at the previous round
        self._on_summary = on_summary or (lambda outcome, seconds: None)

    def refresh(self, settled_only: bool = True) -> RefreshRound:
        """One round; ``settled_only=False`` also summarizes months written since the previous round."""
        started = time.perf_counter()
        client = self._client_or_connect()
        try:
            result = self._round(client, settled_only)
        except Exception:
            self._client = None  # a failed connection is opened again next round
            raise
        result.seconds = time.perf_counter() - started
        return result

    def _client_or_connect(self) -> Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _round(self, client: Client, settled_only: bool) -> RefreshRound:
        versions = _partition_versions(client)
        complete = _complete_refreshes(client)
        result = RefreshRound()
        for month in sorted(versions, reverse=True):  # recent months are asked for most
            version = versions[month]
            if version in complete.get(month, {}):
                continue
            if settled_only and self._seen.get(month) != version:
                result.waiting.append(month)
                continue
            if self._summarize(client, month, version):
                result.summarized.append(month)
            else:
                result.changed.append(month)
        self._seen = versions
        result.dropped = self._drop_replaced(client, versions, _complete_refreshes(client))
        return result

    def _summarize(self, client: Client, month: int, version: int) -> bool:
        started = time.perf_counter()
        parameters = {
            "month": month,
            "version": version,
            "start": int(month_start(month).timestamp()),
            "end": int(month_start(next_month(month)).timestamp()),
        }
        client.command(_SUMMARIZE_BY_PROPERTIES, parameters=parameters)
        summary = client.command(_SUMMARIZE, parameters=parameters)
        for table in _SUMMARY_TABLES:
            # One merged part per partition (a month summarized again at the same version, or by
            # two workers, adds parts): readers' FINAL then has nothing to merge.
            client.command(
                f"OPTIMIZE TABLE {table} PARTITION ID {{partition:String}} FINAL "
                "SETTINGS optimize_skip_merged_partitions = 1",
                parameters={"partition": f"{month}-{version}"},
            )
        seconds = time.perf_counter() - started
        if _partition_versions(client, month).get(month) != version:
            log.info("month %d was written while summarized; summarized again later", month)
            self._on_summary("changed", seconds)
            return False
        rows = int(getattr(summary, "written_rows", 0))
        client.insert(
            USAGE_MONTHLY_REFRESHES,
            [[month, version, datetime.now(UTC), rows, seconds]],
            column_names=["month", "source_version", "refreshed_at", "rows", "seconds"],
        )
        log.info("summarized month %d at version %d: %d rows in %.2f s", month, version, rows, seconds)
        self._on_summary("summarized", seconds)
        return True

    def _drop_replaced(
        self, client: Client, versions: Mapping[int, int], complete: Mapping[int, Mapping[int, datetime]]
    ) -> list[str]:
        rows = client.query(
            "SELECT DISTINCT table, partition_id FROM system.parts "
            "WHERE database = currentDatabase() AND table IN {tables:Array(String)} AND active",
            parameters={"tables": list(_SUMMARY_TABLES)},
        ).result_rows
        kept_since = datetime.now(UTC) - timedelta(seconds=REPLACED_KEPT_S)
        dropped = []
        for table, partition_id in rows:
            month, version = (int(part) for part in str(partition_id).split("-"))
            if replaced(month, version, versions, complete, kept_since):
                client.command(
                    f"ALTER TABLE {table} DROP PARTITION ID {{partition:String}}",
                    parameters={"partition": partition_id},
                )
                dropped.append(f"{table}:{partition_id}")
        return dropped


def replaced(
    month: int,
    version: int,
    versions: Mapping[int, int],
    complete: Mapping[int, Mapping[int, datetime]],
    kept_since: datetime,
) -> bool:
    """Whether the summary of ``month`` at ``version`` can go: its month is gone, or it is below the
    current version and either incomplete or replaced by a complete newer one before ``kept_since``."""
    current = versions.get(month)
    if current is None:
        return True
    if version >= current:
        return False
    done = complete.get(month, {})
    if version not in done:
        return True
    return any(newer > version and at < kept_since for newer, at in done.items())


def _partition_versions(client: Client, month: int | None = None) -> dict[int, int]:
    if month is None:
        rows = client.query(partition_versions_sql()).result_rows
    else:
        rows = client.query(partition_versions_sql("months"), parameters={"months": [month]}).result_rows
    return {int(number): int(version) for number, version in rows}


def _complete_refreshes(client: Client) -> dict[int, dict[int, datetime]]:
    """month -> version -> when its first complete summary was written."""
    rows = client.query(
        f"SELECT month, source_version, min(refreshed_at) FROM {USAGE_MONTHLY_REFRESHES} "
        "GROUP BY month, source_version"
    ).result_rows
    complete: dict[int, dict[int, datetime]] = {}
    for month, version, at in rows:
        complete.setdefault(int(month), {})[int(version)] = _aware(at)
    return complete


def _aware(moment: Any) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def register_summary_refresher(
    app: faust.App, clickhouse: ClickHouseSettings, streams: StreamsSettings
) -> None:
    """A refresh round every ``summary_interval_s`` on ``app``'s loop (the blocking work in a thread);
    a failed round (ClickHouse down) is logged, counted and tried again next round."""
    from core.clickhouse import make_client
    from streams import metrics

    if streams.summary_interval_s <= 0:
        return
    refresher = SummaryRefresher(lambda: make_client(clickhouse), metrics.month_summarized)

    @app.timer(streams.summary_interval_s)
    async def refresh_monthly_summaries() -> None:
        try:
            result = await asyncio.to_thread(refresher.refresh)
        except Exception as exc:
            metrics.SUMMARY_ROUND_FAILURES.inc()
            log.warning("monthly summary round failed (%s); retried next round", exc)
            return
        metrics.SUMMARY_MONTHS_WAITING.set(len(result.waiting) + len(result.changed))
