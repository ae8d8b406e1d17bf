"""Turning a stored row into the event of the retrieval API (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from core.periods import format_utc
from core.storage_bounds import json_number


def event_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """``row`` holds ``query.sql.EVENT_COLUMNS`` in order."""
    event_id, customer_id, external_id, metric_key, event_type, value, granularity, period, created, props = (
        row
    )
    return {
        "event_id": str(event_id),
        "customer_id": customer_id,
        "external_customer_id": external_id,
        "event_code": metric_key,
        "event_type": event_type,
        "value": json_number(float(value)),
        "granularity": granularity,
        "period_start": _timestamp(period),
        "created_at": _timestamp(created),
        "event_properties": _properties(props),
    }


def _timestamp(moment: datetime) -> str:
    return format_utc(moment)


def _properties(text: str) -> Any:
    if not text:
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
