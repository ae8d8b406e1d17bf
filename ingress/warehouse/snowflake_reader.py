"""Snowflake as a warehouse, through snowflake-connector-python, fetched ``page_rows`` at a time.

The query binds the watermark client-side (pyformat): ``WHERE updated_at > %(since)s`` with a
UTC timestamp without time zone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import snowflake.connector
from snowflake.connector import errors

from ingress.warehouse.readers import ReadOptions, WarehouseQueryFailed, WarehouseUnavailable, capped
from ingress.warehouse.rows import Page

_SETTINGS = ("account", "user", "warehouse", "database", "schema", "role", "host", "port", "protocol")


def private_key_der(pem: str) -> bytes:
    """A PEM (PKCS#8, unencrypted) private key as the DER bytes the connector takes."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def connect_arguments(
    connection: dict[str, Any], secrets: dict[str, Any], options: ReadOptions
) -> dict[str, Any]:
    arguments: dict[str, Any] = {name: connection[name] for name in _SETTINGS if name in connection}
    if secrets.get("private_key"):
        arguments["private_key"] = private_key_der(str(secrets["private_key"]))
    else:
        arguments["password"] = str(secrets.get("password", ""))
    arguments["login_timeout"] = options.connect_timeout_s
    arguments["network_timeout"] = options.query_timeout_s
    arguments["session_parameters"] = {"QUERY_TAG": "quivly-warehouse-source"}
    return arguments


class SnowflakeReader:
    def __init__(self, connection: dict[str, Any], secrets: dict[str, Any]) -> None:
        self._connection = connection
        self._secrets = secrets
        self._conn: Any = None

    def pages(self, query: str, since: datetime, options: ReadOptions) -> Iterator[Page]:
        read = 0
        try:
            if self._conn is None:
                self._conn = snowflake.connector.connect(
                    **connect_arguments(self._connection, self._secrets, options)
                )
            cursor = self._conn.cursor()
            try:
                cursor.execute(
                    query, {"since": since.replace(tzinfo=None)}, timeout=int(options.query_timeout_s)
                )
                columns = [str(column[0]).lower() for column in cursor.description or []]
                while True:
                    fetched = cursor.fetchmany(options.page_rows)
                    rows, done = capped(list(fetched), read, options.max_rows)
                    if not rows and read > 0:
                        return
                    read += len(rows)
                    yield Page(columns, rows)
                    if done or not rows:
                        return
            finally:
                cursor.close()
        except errors.ProgrammingError as exc:
            raise WarehouseQueryFailed(f"Snowflake rejected the query: {exc}") from None
        except errors.Error as exc:
            raise WarehouseUnavailable(f"Snowflake is unreachable: {exc}") from None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(errors.Error):
                self._conn.close()
            self._conn = None
