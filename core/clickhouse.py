"""The one way every service opens ClickHouse: the clickhouse-connect HTTP client.

Works the same against a real ClickHouse server and the local chdb endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.settings import ClickHouseSettings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


def make_client(settings: ClickHouseSettings, database: str | None = None, **client_options: Any) -> Client:
    """``client_options`` go to ``clickhouse_connect.get_client`` as they are (e.g. ``compress``)."""
    import clickhouse_connect

    return clickhouse_connect.get_client(
        host=settings.host,
        port=settings.port,
        secure=settings.secure,
        username=settings.username,
        password=settings.password,
        database=database if database is not None else settings.database,
        connect_timeout=settings.connect_timeout_s,
        send_receive_timeout=settings.send_receive_timeout_s,
        autogenerate_session_id=False,
        **client_options,
    )
