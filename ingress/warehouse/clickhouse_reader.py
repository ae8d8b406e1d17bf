"""ClickHouse as a warehouse, through clickhouse-connect (HTTP), streamed block by block.

The query binds the watermark server-side: ``WHERE updated_at > {since:DateTime64(6, 'UTC')}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from ingress.warehouse.readers import ReadOptions, WarehouseQueryFailed, WarehouseUnavailable, capped
from ingress.warehouse.rows import Page


def since_text(since: datetime) -> str:
    """UTC wall time with microseconds, the text form ClickHouse parses for DateTime64(6, 'UTC')."""
    return since.strftime("%Y-%m-%d %H:%M:%S.%f")


class ClickHouseReader:
    def __init__(self, connection: dict[str, Any], secrets: dict[str, Any]) -> None:
        self._connection = connection
        self._password = str(secrets.get("password", ""))
        self._client: Any = None

    def _client_for(self, options: ReadOptions) -> Any:
        if self._client is None:
            url = urlparse(self._connection["url"])
            secure = url.scheme == "https"
            try:
                self._client = clickhouse_connect.get_client(
                    host=url.hostname,
                    port=url.port or (8443 if secure else 8123),
                    secure=secure,
                    username=self._connection.get("username", "default"),
                    password=self._password,
                    database=self._connection.get("database", "default"),
                    connect_timeout=options.connect_timeout_s,
                    send_receive_timeout=options.query_timeout_s,
                    autogenerate_session_id=False,
                    compress=False,
                )
            except OperationalError as exc:
                raise WarehouseUnavailable(f"ClickHouse is unreachable: {exc}") from None
            except DatabaseError as exc:
                raise WarehouseQueryFailed(f"ClickHouse refused the connection: {exc}") from None
        return self._client

    def pages(self, query: str, since: datetime, options: ReadOptions) -> Iterator[Page]:
        client = self._client_for(options)
        read = 0
        try:
            stream = client.query_row_block_stream(
                query,
                parameters={"since": since_text(since)},
                settings={"max_block_size": options.page_rows},
            )
            with stream:
                columns = [str(name) for name in stream.source.column_names]
                pending: list[Any] = []
                for block in stream:  # blocks may be larger than asked: pages are cut to size
                    pending.extend(block)
                    start = 0
                    while len(pending) - start >= options.page_rows:
                        rows, done = capped(
                            pending[start : start + options.page_rows], read, options.max_rows
                        )
                        start += options.page_rows
                        read += len(rows)
                        yield Page(columns, rows)
                        if done:
                            return
                    pending = pending[start:]
                rows, _ = capped(pending, read, options.max_rows)
                if rows or read == 0:
                    yield Page(columns, rows)
        except OperationalError as exc:
            raise WarehouseUnavailable(f"ClickHouse is unreachable: {exc}") from None
        except DatabaseError as exc:
            raise WarehouseQueryFailed(f"ClickHouse rejected the query: {exc}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
