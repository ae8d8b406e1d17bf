"""The one way every service opens ClickHouse: the clickhouse-connect HTTP client.

Works the same against a real ClickHouse server and the local chdb endpoint.

Concurrency policy
------------------
* Clients are opened with sessions off (``autogenerate_session_id=False``). Without a session a
  clickhouse-connect client keeps no per-query server state, and each query or insert runs in the
  calling thread over a connection of the client's HTTP pool, so **one client is shared by every thread**
  of a component: no lock around queries is needed (or wanted: it would serialise them).
* Each long-lived component holds one ``SharedClient`` (opened lazily on first use, so a service
  starts while ClickHouse is still down) and closes it on shutdown.
* Blocking calls run off the event loop (``asyncio.to_thread`` / ``run_in_threadpool``).
* Never turn sessions on for a shared client: ClickHouse refuses concurrent queries in one session.
"""

from __future__ import annotations

import threading
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


class SharedClient:
    """One client per component, opened on first use and shared by every thread (see above)."""

    def __init__(self, settings: ClickHouseSettings, **client_options: Any) -> None:
        self.settings = settings
        self._options = client_options
        self._client: Client | None = None
        self._opening = threading.Lock()  # guards opening and closing only, never a query

    def get(self) -> Client:
        client = self._client
        if client is not None:
            return client
        with self._opening:
            if self._client is None:
                self._client = make_client(self.settings, **self._options)
            return self._client

    def close(self) -> None:
        with self._opening:
            if self._client is not None:
                self._client.close()
                self._client = None
