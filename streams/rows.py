"""ClickHouse rows from usage records: pure logic, no ClickHouse client import.

Rows hold plain ints where the column types allow it, which clickhouse-connect writes without a
per-value conversion: ``DateTime`` as seconds, ``DateTime64(6)`` as microseconds, ``UUID`` as
its 128-bit integer (clickhouse-connect 1.12 ``datatypes/temporal.py`` and ``special.py``
take ints as is when the column's first value is an int).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from core.names import USAGE_EVENT_COLUMNS
from core.records import RecordError, UsageRecord, event_id_digest
from streams.versioning import KeyState

COLUMNS = USAGE_EVENT_COLUMNS  # the same for usage_events and usage_event_history


@functools.lru_cache(maxsize=4096)  # few distinct periods
def parse_period_start(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RecordError(f"period_start {text!r} is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise RecordError(f"period_start {text!r} has no time zone")
    return moment.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def period_start_seconds(text: str) -> int:
    """``period_start`` as seconds since the epoch (the ``DateTime`` column's value)."""
    return int(parse_period_start(text).timestamp())


def event_id_int(key_bytes: bytes) -> int:
    """The event ID as a UUID's integer, from the canonical replace key bytes.

    Same digest as ``ReplaceKey.event_id`` (``uuid.UUID(bytes=digest)``, whose ``.int`` is the
    digest read big-endian), without building the key and the UUID string per record.
    """
    return int.from_bytes(event_id_digest(key_bytes), "big")


def build_row(record: UsageRecord, state: KeyState, event_id: int) -> tuple[Any, ...]:
    """One row in ``COLUMNS`` order. Deterministic: a replay builds exactly the same row."""
    return (
        record.org_id,
        record.customer_id,
        record.metric_key,
        record.granularity,
        period_start_seconds(record.period_start),
        event_id,
        record.external_customer_id,
        record.event_type,
        record.value,
        record.created_at_us,
        record.properties,
        record.ingested_at_us,
        state.version,
        state.partition,
        state.offset,
    )


def to_columns(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows transposed into columns (``column_oriented=True`` inserts)."""
    return list(zip(*rows, strict=True))
