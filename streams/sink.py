"""The ClickHouse sink: inserts a batch's rows, retrying with backoff until it succeeds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.clickhouse import make_client
from core.names import USAGE_EVENT_HISTORY, USAGE_EVENTS
from core.settings import ClickHouseSettings
from streams.backoff import backoff_delays
from streams.rows import COLUMNS
from streams.settings import StreamsSettings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)


class ClickHouseSink:
    """Writes current rows and history rows. ``write`` returns only once both inserts succeeded.

    Both inserts are idempotent for a replayed batch: the rows are identical (same version), so
    ReplacingMergeTree keeps one. The blocking client runs in a thread so the event loop (group
    heartbeats, Faust's services) keeps running while ClickHouse is slow or down.
    """

    def __init__(self, clickhouse: ClickHouseSettings, streams: StreamsSettings) -> None:
        self._clickhouse = clickhouse
        self._streams = streams
        self._client: Client | None = None

    def _insert(self, current: Sequence[Sequence[Any]], history: Sequence[Sequence[Any]]) -> None:
        if self._client is None:
            self._client = make_client(self._clickhouse)
        if history:
            self._client.insert(USAGE_EVENT_HISTORY, history, column_names=list(COLUMNS))
        if current:
            self._client.insert(USAGE_EVENTS, current, column_names=list(COLUMNS))

    async def write(self, current: Sequence[Sequence[Any]], history: Sequence[Sequence[Any]]) -> None:
        delays = backoff_delays(self._streams.retry_initial_s, self._streams.retry_max_s)
        attempt = 0
        while True:
            attempt += 1
            try:
                await asyncio.to_thread(self._insert, current, history)
                if attempt > 1:
                    log.warning("ClickHouse insert succeeded after %d attempts", attempt)
                return
            except Exception as exc:  # any failure: keep the place, back off, try again
                delay = next(delays)
                log.warning(
                    "ClickHouse insert failed (attempt %d): %s; retrying in %.1f s", attempt, exc, delay
                )
                self._close()
                await asyncio.sleep(delay)

    def _close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                log.debug("closing the ClickHouse client failed", exc_info=True)
            self._client = None
