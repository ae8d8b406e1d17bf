"""The dead-letter recorder: copies every record of the dead-letter topic into ClickHouse.

An agent of the worker's app consumes the dead-letter topic (one partition: one worker of the
group holds it) and inserts, per batch, one ``usage_dead_letters`` row per record (migration
0065): the organization read from the record as far as possible, a stable ID derived from the
original record's position (``quivly-source``), the reason (``quivly-error``), when, and the
original key and value as they were. Delivery is at least once (Faust commits after the batch);
a letter recorded twice has the same ID and collapses (ReplacingMergeTree). Transient ClickHouse
errors are retried with backoff; a row the table refuses (it has only String columns, so this is
not expected) is logged and skipped rather than stalling the recorder.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import EventT, StreamT, TopicT

from core.clickhouse import make_client
from core.dead_letters import (
    DEAD_LETTER_COLUMNS,
    DEAD_LETTERS,
    ERROR_HEADER,
    SOURCE_HEADER,
    letter_id,
    org_of,
)
from core.settings import ClickHouseSettings
from streams.backoff import backoff_delays
from streams.refusals import classify
from streams.settings import StreamsSettings

log = logging.getLogger(__name__)

BATCH_MAX = 500
BATCH_WITHIN_S = 1.0


def dead_letter_row(
    key: bytes | None,
    value: bytes | None,
    headers: Any,
    topic: str,
    partition: int,
    offset: int,
    timestamp_s: float | None,
) -> tuple[Any, ...]:
    """The ``usage_dead_letters`` row of one record of the dead-letter topic (pure)."""
    header = _headers(headers)
    source = header.get(SOURCE_HEADER, b"").decode("utf-8", "replace") or f"{topic}/{partition}/{offset}"
    at = timestamp_s if timestamp_s and 0 < timestamp_s < 10_000_000_000 else time.time()
    return (
        org_of(key, value),
        letter_id(source),
        datetime.fromtimestamp(at, UTC),
        header.get(ERROR_HEADER, b"").decode("utf-8", "replace"),
        source,
        key or b"",
        value or b"",
        offset,
    )


def _headers(headers: Any) -> dict[str, bytes]:
    items = headers.items() if isinstance(headers, dict) else (headers or ())
    return {str(name): bytes(raw or b"") for name, raw in items}


class DeadLetterTable:
    def __init__(self, clickhouse: ClickHouseSettings, streams: StreamsSettings) -> None:
        self._clickhouse = clickhouse
        self._streams = streams

    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        client = make_client(self._clickhouse)
        try:
            client.insert(DEAD_LETTERS, list(rows), column_names=list(DEAD_LETTER_COLUMNS))
        finally:
            client.close()

    async def record(self, rows: Sequence[tuple[Any, ...]]) -> None:
        delays = backoff_delays(self._streams.retry_initial_s, self._streams.retry_max_s)
        while True:
            try:
                await asyncio.to_thread(self._insert, rows)
                return
            except Exception as exc:
                if classify(exc) == "refused":
                    log.error("ClickHouse refused dead letters %r: %s", [r[4] for r in rows], exc)
                    return
                delay = next(delays)
                log.warning("recording dead letters failed: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)


def register_dead_letter_recorder(app: faust.App, dead_letters: TopicT, table: DeadLetterTable) -> None:
    @app.agent(dead_letters, name="dead-letter-recorder", concurrency=1)
    async def record(stream: StreamT) -> None:
        assert isinstance(stream, faust.Stream)
        events: Sequence[EventT]
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            rows = [_row(event) for event in events]
            await table.record(rows)
            log.info("recorded %d dead letters", len(rows))


def _row(event: EventT) -> tuple[Any, ...]:
    message = event.message
    return dead_letter_row(
        message.key,
        message.value,
        message.headers,
        message.topic,
        message.partition,
        message.offset,
        message.timestamp,
    )
