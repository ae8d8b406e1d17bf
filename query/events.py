"""Turning a stored row into the event of the retrieval API (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from core.periods import format_utc

# orjson writes integers of this range only; an integral float beyond it (1e20) stays a float.
_JSON_INT_MIN = -(2**63)
_JSON_INT_MAX = 2**64 - 1


def json_number(value: float) -> int | float:
    """An integral float prints as an integer (300.0 -> 300) when JSON encoders take it as one;
    anything else (1e20, 0.5) stays a float, which every finite double is as JSON."""
    if math.isfinite(value) and value == int(value) and _JSON_INT_MIN <= value <= _JSON_INT_MAX:
        return int(value)
    return value


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
