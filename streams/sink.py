"""The ClickHouse sink: inserts a batch's rows, retrying with backoff until it succeeds."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from core.clickhouse import make_client
from core.names import USAGE_EVENT_HISTORY
from core.settings import ClickHouseSettings
from streams import metrics
from streams.backoff import backoff_delays
from streams.rows import COLUMNS, to_columns
from streams.settings import StreamsSettings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from clickhouse_connect.driver.insert import InsertContext

log = logging.getLogger(__name__)


class ClickHouseSink:
    """Writes a batch's rows. ``write`` returns only once the insert succeeded.

    One insert per batch, into ``usage_event_history``; its materialized view (migration 0040)
    copies the same rows into ``usage_events`` within that insert, so Python serializes every
    row once. The insert is idempotent for a replayed batch: the rows are identical (same
    version), so ReplacingMergeTree keeps one in each table. Rows are sent column-oriented
    through a reusable insert context per connection (column types read once, not per
    insert). The blocking client runs in a thread so the event loop (group heartbeats, Faust's
    services) keeps running while ClickHouse is slow or down.
    """

    def __init__(self, clickhouse: ClickHouseSettings, streams: StreamsSettings) -> None:
        self._clickhouse = clickhouse
        self._streams = streams
        # Idle connections with their insert contexts: two batches may insert at once (see
        # ``streams.agents``), each on its own connection (a client runs one query at a time).
        self._idle: list[tuple[Client, InsertContext]] = []

    def _connect(self) -> tuple[Client, InsertContext]:
        try:
            return self._idle.pop()  # atomic: the two insert threads never get the same one
        except IndexError:
            pass
        client = make_client(self._clickhouse)
        context = client.create_insert_context(
            USAGE_EVENT_HISTORY, column_names=list(COLUMNS), column_oriented=True
        )
        return client, context

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        client, context = self._connect()
        try:
            client.insert(data=to_columns(rows), context=context)
        except BaseException:
            _close(client)  # a failed connection is not reused
            raise
        self._idle.append((client, context))

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        delays = backoff_delays(self._streams.retry_initial_s, self._streams.retry_max_s)
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            try:
                await asyncio.to_thread(self._insert, rows)
                metrics.inserted(rows, started)
                if attempt > 1:
                    log.warning("ClickHouse insert succeeded after %d attempts", attempt)
                return
            except Exception as exc:  # any failure: keep the place, back off, try again
                metrics.insert_failed()
                delay = next(delays)
                log.warning(
                    "ClickHouse insert failed (attempt %d): %s; retrying in %.1f s", attempt, exc, delay
                )
                await asyncio.sleep(delay)


def _close(client: Client) -> None:
    try:
        client.close()
    except Exception:
        log.debug("closing the ClickHouse client failed", exc_info=True)
