"""ClickHouse adapter of the warehouse sources: every SQL statement of the package lives here.

Tables (migration 0080): ``warehouse_sources`` (credentials only as a Fernet token),
``warehouse_runs`` (one row per run, replaced when it ends) and ``warehouse_scheduler_lease``.
Reads take the highest version with ``argMax``, correct before merges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from core import names
from core.clickhouse import SharedClient
from core.settings import ClickHouseSettings
from ingress.warehouse.model import Source

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

_SOURCE_COLUMNS = [
    "org_id",
    "source_id",
    "name",
    "kind",
    "status",
    "connection",
    "secret_token",
    "query",
    "interval_s",
    "watermark_column",
    "lookback_s",
    "created_at",
    "published_at",
    "version",
]
_RUN_COLUMNS = [
    "org_id",
    "source_id",
    "run_id",
    "status",
    "started_at",
    "finished_at",
    "attempts",
    "rows_read",
    "rows_written",
    "rows_unmatched",
    "rows_invalid",
    "since",
    "watermark",
    "error",
    "scheduler_id",
    "version",
]


@dataclass
class RunRecord:
    org_id: str
    source_id: str
    run_id: str
    status: str  # running, succeeded, failed
    started_at: datetime
    finished_at: datetime | None
    attempts: int
    rows_read: int
    rows_written: int
    rows_unmatched: int
    rows_invalid: int
    since: datetime | None
    watermark: datetime | None
    error: str
    scheduler_id: str
    version: int

    def row(self) -> list[Any]:
        return [getattr(self, column) for column in _RUN_COLUMNS]


def _utc(value: Any) -> Any:
    """ClickHouse datetimes as aware UTC datetimes (the client may return them naive, in UTC)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _source(row: Any) -> Source:
    (
        org,
        sid,
        name,
        kind,
        status,
        connection,
        token,
        query,
        interval,
        column,
        lookback,
        created,
        published,
    ) = row
    return Source(
        org, sid, name, kind, status, orjson.loads(connection or "{}"), token, query,
        int(interval), column, int(lookback), _utc(created), _utc(published),
    )  # fmt: skip


_LATEST_SOURCE = (
    "SELECT org_id, source_id, argMax(name, version), argMax(kind, version), argMax(status, version), "
    "argMax(connection, version), argMax(secret_token, version), argMax(query, version), "
    "argMax(interval_s, version), argMax(watermark_column, version), argMax(lookback_s, version), "
    f"min(created_at), argMax(published_at, version) FROM {names.WAREHOUSE_SOURCES} "
)


class WarehouseStore:
    """One clickhouse-connect client shared by every thread (sessions are off: core/clickhouse.py)."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        self._client = SharedClient(settings)

    @property
    def client(self) -> Client:
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    def _rows(self, sql: str, **parameters: Any) -> list[Any]:
        return list(self.client.query(sql, parameters=parameters).result_rows)

    def _insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        self.client.insert(table, rows, column_names=columns)

    # ------------------------------------------------------------------ sources
    def save_source(self, source: Source, version: int) -> None:
        row = [
            source.org_id,
            source.source_id,
            source.name,
            source.kind,
            source.status,
            orjson.dumps(source.connection, option=orjson.OPT_SORT_KEYS).decode(),
            source.secret_token,
            source.query,
            source.interval_s,
            source.watermark_column,
            source.lookback_s,
            source.created_at,
            source.published_at,
            version,
        ]
        self._insert(names.WAREHOUSE_SOURCES, [row], _SOURCE_COLUMNS)

    def source(self, org_id: str, source_id: str) -> Source | None:
        rows = self._rows(
            _LATEST_SOURCE + "WHERE org_id = {org:String} AND source_id = {sid:String} "
            "GROUP BY org_id, source_id",
            org=org_id,
            sid=source_id,
        )
        return _source(rows[0]) if rows else None

    def sources(self, org_id: str | None = None) -> list[Source]:
        where = "WHERE org_id = {org:String} " if org_id is not None else ""
        rows = self._rows(
            _LATEST_SOURCE + where + "GROUP BY org_id, source_id ORDER BY min(created_at), source_id",
            org=org_id or "",
        )
        return [_source(row) for row in rows]

    def count_sources(self) -> int:
        return int(self._rows(f"SELECT uniqExact(org_id, source_id) FROM {names.WAREHOUSE_SOURCES}")[0][0])

    # ------------------------------------------------------------------ runs
    def save_run(self, run: RunRecord) -> None:
        self._insert(names.WAREHOUSE_RUNS, [run.row()], _RUN_COLUMNS)

    def runs(self, org_id: str, source_id: str, limit: int = 50) -> list[RunRecord]:
        columns = ", ".join(
            c if c in ("org_id", "source_id", "run_id", "started_at") else f"argMax({c}, version)"
            for c in _RUN_COLUMNS
        )
        rows = self._rows(
            f"SELECT {columns} FROM {names.WAREHOUSE_RUNS} "
            "WHERE org_id = {org:String} AND source_id = {sid:String} "
            "GROUP BY org_id, source_id, run_id, started_at ORDER BY started_at DESC, run_id DESC "
            "LIMIT {limit:UInt32}",
            org=org_id,
            sid=source_id,
            limit=limit,
        )
        return [RunRecord(*(_utc(value) for value in row)) for row in rows]

    def schedule_state(self) -> dict[tuple[str, str], tuple[datetime | None, datetime | None]]:
        """Per source: (start of its last run, watermark of its last succeeded run)."""
        rows = self._rows(
            "SELECT org_id, source_id, max(started_at), "
            "argMaxIf(watermark, started_at, status = 'succeeded' AND watermark IS NOT NULL) "
            f"FROM (SELECT org_id, source_id, run_id, started_at, argMax(status, version) AS status, "
            f"argMax(watermark, version) AS watermark FROM {names.WAREHOUSE_RUNS} "
            "GROUP BY org_id, source_id, run_id, started_at) GROUP BY org_id, source_id"
        )
        return {(org, sid): (_utc(started), _utc(watermark)) for org, sid, started, watermark in rows}

    def last_watermark(self, org_id: str, source_id: str) -> datetime | None:
        return self.schedule_state().get((org_id, source_id), (None, None))[1]

    # ------------------------------------------------------------------ lease
    def lease(self, name: str) -> tuple[str, datetime, int] | None:
        rows = self._rows(
            "SELECT argMax(holder, version), argMax(expires_at, version), max(version) "
            f"FROM {names.WAREHOUSE_SCHEDULER_LEASE} WHERE name = {{name:String}} GROUP BY name",
            name=name,
        )
        return (rows[0][0], _utc(rows[0][1]), int(rows[0][2])) if rows else None

    def claim_lease(self, name: str, holder: str, expires_at: datetime, version: int) -> None:
        self._insert(
            names.WAREHOUSE_SCHEDULER_LEASE,
            [[name, holder, expires_at, version]],
            ["name", "holder", "expires_at", "version"],
        )
