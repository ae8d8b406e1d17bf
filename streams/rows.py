"""ClickHouse rows from usage records: pure logic, no ClickHouse client import."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from core.names import USAGE_EVENT_COLUMNS
from core.records import RecordError, UsageRecord
from streams.versioning import KeyState

COLUMNS = USAGE_EVENT_COLUMNS  # the same for usage_events and usage_event_history

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@functools.lru_cache(maxsize=4096)  # few distinct periods; parsed twice per record otherwise
def parse_period_start(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RecordError(f"period_start {text!r} is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise RecordError(f"period_start {text!r} has no time zone")
    return moment.astimezone(UTC)


def build_row(record: UsageRecord, state: KeyState) -> tuple[Any, ...]:
    """One row in ``COLUMNS`` order. Deterministic: a replay builds exactly the same row."""
    return (
        record.org_id,
        record.customer_id,
        record.metric_key,
        record.granularity,
        parse_period_start(record.period_start),
        uuid.UUID(record.event_id),
        record.external_customer_id,
        record.event_type,
        record.value,
        from_micros(record.created_at_us),
        record.properties,
        from_micros(record.ingested_at_us),
        state.version,
        state.partition,
        state.offset,
    )
