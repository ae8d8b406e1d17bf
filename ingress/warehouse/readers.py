"""The one small interface every warehouse client sits behind: paged reads of one query.

A reader yields ``Page``s of at most ``page_rows`` rows, never the whole result: a table of
millions of rows is read page by page while earlier pages are produced. Each client's errors
become ``WarehouseUnavailable`` (worth retrying: connection, timeout, 5xx) or
``WarehouseQueryFailed`` (the query or the credentials are wrong: retrying cannot help).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ingress.warehouse.rows import Page


class WarehouseUnavailable(Exception):
    """The warehouse could not be reached or did not answer in time."""


class WarehouseQueryFailed(Exception):
    """The warehouse answered with an error about the query, its permissions or the credentials."""


@dataclass(frozen=True)
class ReadOptions:
    page_rows: int
    max_rows: int | None  # test runs read at most this many rows
    connect_timeout_s: float
    query_timeout_s: float


class WarehouseReader(Protocol):
    def pages(self, query: str, since: datetime, options: ReadOptions) -> Iterator[Page]:
        """The query's rows, page by page; ``since`` (UTC) is bound as the parameter ``since``."""

    def close(self) -> None: ...


def open_reader(kind: str, connection: dict[str, Any], secrets: dict[str, Any]) -> WarehouseReader:
    """A reader of this kind (its client library is imported only here, on first use)."""
    if kind == "clickhouse":
        from ingress.warehouse.clickhouse_reader import ClickHouseReader

        return ClickHouseReader(connection, secrets)
    if kind == "snowflake":
        from ingress.warehouse.snowflake_reader import SnowflakeReader

        return SnowflakeReader(connection, secrets)
    if kind == "bigquery":
        from ingress.warehouse.bigquery_reader import BigQueryReader

        return BigQueryReader(connection, secrets)
    raise WarehouseQueryFailed(f"unknown warehouse kind {kind!r}")


def capped(rows: list[Any], read: int, max_rows: int | None) -> tuple[list[Any], bool]:
    """The rows still allowed under ``max_rows`` after ``read`` rows, and whether the cap is hit."""
    if max_rows is None:
        return rows, False
    room = max_rows - read
    return rows[:room], read + len(rows) >= max_rows
