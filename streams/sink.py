"""The ClickHouse sink: stores a batch's rows, isolating the rows the server refuses.

``write`` returns once every row is either stored or refused:

* the rows go in groups that respect the server's partition limit per INSERT block
  (``streams.partitions``; the limit is read from the server once);
* an error is classified (``streams.refusals``): a *transient* one (connection, timeout,
  overload, too many parts, memory...) is retried with backoff, forever, on the same rows; a
  *refusal* (the rows cannot be stored as they are) splits the rows in halves, recursively, until
  the refused rows are alone: those are returned with the server's error (the worker dead-letters
  them), every other row is stored.

Splitting is safe because inserts are idempotent: a row stored twice (a half inserted again after
a retry, a replayed batch) is identical (same version) and collapses in every ReplacingMergeTree
table. A refused row may still leave its copy in a table that accepted it before a view refused it
(e.g. ``usage_event_history`` when a view's target refuses), never in ``usage_events``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.clickhouse import make_client
from core.names import USAGE_EVENT_HISTORY
from core.settings import ClickHouseSettings
from streams import metrics
from streams.backoff import backoff_delays
from streams.partitions import insert_groups
from streams.refusals import classify, describe
from streams.rows import COLUMNS, to_columns
from streams.settings import StreamsSettings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from clickhouse_connect.driver.insert import InsertContext

log = logging.getLogger(__name__)

# ClickHouse's default ``max_partitions_per_insert_block``: used when the server does not say.
DEFAULT_PARTITION_LIMIT = 100


@dataclass(frozen=True, slots=True)
class RefusedRow:
    index: int  # position in the rows given to ``write``
    reason: str  # the server's (or the client's) error


class ClickHouseSink:
    """Writes a batch's rows. ``write`` returns only once every row is stored or refused.

    One insert per batch (per partition group), into ``usage_event_history``; its materialized
    view (migration 0040) copies the same rows into ``usage_events`` within that insert. Rows are
    sent column-oriented through a reusable insert context per connection. The blocking client
    runs in a thread so the event loop (group heartbeats, Faust's services) keeps running while
    ClickHouse is slow or down.
    """

    def __init__(self, clickhouse: ClickHouseSettings, streams: StreamsSettings) -> None:
        self._clickhouse = clickhouse
        self._streams = streams
        # Idle connections with their insert contexts (a client runs one query at a time).
        self._idle: list[tuple[Client, InsertContext]] = []
        self._partition_limit: int | None = None

    def _connect(self) -> tuple[Client, InsertContext]:
        try:
            return self._idle.pop()  # atomic: two insert threads never get the same one
        except IndexError:
            pass
        client = make_client(self._clickhouse)
        if self._partition_limit is None:
            self._partition_limit = _server_partition_limit(client)
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

    async def partition_limit(self) -> int:
        if self._partition_limit is None:
            await self._retrying(lambda: self._idle.append(self._connect()), "ClickHouse connection")
        assert self._partition_limit is not None
        return self._partition_limit

    async def write(self, rows: list[tuple[Any, ...]]) -> list[RefusedRow]:
        """Stores ``rows``; returns the ones the server refused (usually none)."""
        refused: list[RefusedRow] = []
        for group in insert_groups(rows, await self.partition_limit()):
            pending = [group]
            while pending:
                part = pending.pop()
                error = await self._insert_part(rows, part)
                if error is None:
                    continue
                if len(part) == 1:
                    log.warning("ClickHouse refused row %d of the batch: %s", part[0], error)
                    refused.append(RefusedRow(part[0], error))
                    continue
                middle = len(part) // 2
                pending += [part[middle:], part[:middle]]  # the first half is inserted first
        return sorted(refused, key=lambda row: row.index)

    async def _insert_part(self, rows: list[tuple[Any, ...]], part: list[int]) -> str | None:
        """Inserts ``rows[part]``, retrying transient errors; the refusal's text if refused."""
        chosen = rows if len(part) == len(rows) else [rows[i] for i in part]
        started = time.monotonic()
        try:
            await self._retrying(lambda: self._insert(chosen), "ClickHouse insert")
        except _Refused as refusal:
            return refusal.reason
        metrics.inserted(chosen, started)
        return None

    async def _retrying(self, attempt_once: Any, what: str) -> None:
        delays = backoff_delays(self._streams.retry_initial_s, self._streams.retry_max_s)
        attempt = 0
        while True:
            attempt += 1
            try:
                await asyncio.to_thread(attempt_once)
            except Exception as exc:
                if classify(exc) == "refused":
                    raise _Refused(describe(exc)) from exc
                metrics.insert_failed()
                delay = next(delays)
                log.warning("%s failed (attempt %d): %s; retrying in %.1f s", what, attempt, exc, delay)
                await asyncio.sleep(delay)
                continue
            if attempt > 1:
                log.warning("%s succeeded after %d attempts", what, attempt)
            return


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _server_partition_limit(client: Client) -> int:
    try:
        value = client.query("SELECT getSetting('max_partitions_per_insert_block')").result_rows[0][0]
        return int(value)
    except Exception:
        log.warning("could not read max_partitions_per_insert_block; assuming %d", DEFAULT_PARTITION_LIMIT)
        return DEFAULT_PARTITION_LIMIT


def _close(client: Client) -> None:
    try:
        client.close()
    except Exception:
        log.debug("closing the ClickHouse client failed", exc_info=True)
