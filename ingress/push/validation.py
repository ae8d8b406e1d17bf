"""Whole-batch validation of a push body, hand-written over the parsed JSON (pure logic).

Measured against pydantic (see docs/ingress.md): a plain loop over the orjson-parsed dicts costs
about as much as ``PushRequest.model_validate_json`` while also doing what pydantic would need a
second pass for (properties size and canonical form, UTC timestamps), and gives exactly the error
paths and messages of docs/api.md (booleans are not numbers, NaN located at its field).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from core.periods import Granularity
from core.records import canonical_json
from core.storage_bounds import (
    PROPERTIES_MAX_DEPTH,
    PROPERTY_INT_MAX,
    PROPERTY_INT_MIN,
    properties_depth,
    storable_timestamp,
    timestamp_range_text,
)

MAX_EVENTS = 1000
MAX_EXTERNAL_ID_CHARS = 255
MAX_METRIC_KEY_CHARS = 128
MAX_PROPERTIES_BYTES = 4096
GRANULARITIES = frozenset(g.value for g in Granularity)
EVENT_TYPES = frozenset({"credit", "debit"})
# Timestamps, integers and nesting in properties: what storage and reads hold (core.storage_bounds).
INTEGER_RANGE_MESSAGE = (
    f"Integers must be between {PROPERTY_INT_MIN} and {PROPERTY_INT_MAX} (send larger ones as strings)"
)
DEPTH_MESSAGE = (
    f"Must be nested at most {PROPERTIES_MAX_DEPTH} levels deep (the properties object is level 1)"
)


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ValidationFailed(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ValidEvent:
    external_customer_id: str
    metric_key: str
    value: float
    timestamp: datetime | None  # aware, UTC
    granularity: str
    properties: str  # compact JSON object text, keys sorted
    event_type: str


class _NonFinite:
    """What NaN, Infinity and overflowing numbers parse to, so they fail with a field path."""

    def __init__(self, text: str) -> None:
        self.text = text


def _lenient_float(text: str) -> float | _NonFinite:
    number = float(text)
    return number if math.isfinite(number) else _NonFinite(text)


def parse_body(raw: bytes) -> Any:
    """Parses with orjson; only when it fails, re-parses leniently to locate non-finite numbers."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as fast_error:
        try:
            payload = json.loads(raw, parse_constant=_NonFinite, parse_float=_lenient_float)
        except (ValueError, RecursionError):
            raise ValidationFailed([FieldError("body", f"Malformed JSON: {fast_error}")]) from None
        bad = _invalid_string_path(payload, "")
        if bad is not None:
            raise ValidationFailed(
                [FieldError(bad or "body", "Invalid Unicode (lone surrogate) in string")]
            ) from None
        return payload


def _invalid_string_path(node: Any, path: str) -> str | None:
    """The path of the first string (key or value) that is not valid Unicode, if any."""
    if isinstance(node, str):
        try:
            node.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(node, list):
        for index, item in enumerate(node):
            found = _invalid_string_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    elif isinstance(node, dict):
        for key, item in node.items():
            child = f"{path}.{key}" if path else str(key)
            if _invalid_string_path(key, path) is not None:
                return child.encode("utf-8", "replace").decode("utf-8")
            found = _invalid_string_path(item, child)
            if found is not None:
                return found
    return None


def validate_body(raw: bytes) -> list[ValidEvent]:
    """The events of a push body, or ``ValidationFailed`` listing every failing field."""
    payload = parse_body(raw)
    events = validate_payload(payload)
    oversized = _oversized_integers(raw, payload, events)
    if oversized:
        raise ValidationFailed(oversized)
    return events


def validate_payload(payload: Any) -> list[ValidEvent]:
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("body", "The body must be a JSON object with an 'events' array")])
    events = payload.get("events")
    if not isinstance(events, list):
        message = "Field required" if events is None else "Must be an array of events"
        raise ValidationFailed([FieldError("events", message)])
    if not 1 <= len(events) <= MAX_EVENTS:
        raise ValidationFailed(
            [FieldError("events", f"Must hold between 1 and {MAX_EVENTS} events (got {len(events)})")]
        )
    errors: list[FieldError] = []
    valid: list[ValidEvent] = []
    for index, event in enumerate(events):
        checked = _validate_event(index, event, errors)
        if checked is not None:
            valid.append(checked)
    if errors:
        raise ValidationFailed(errors)
    return valid


def validate_event(index: int, event: Any) -> tuple[ValidEvent | None, list[FieldError]]:
    """One event under the same rules, for sources other than a push body (e.g. warehouse rows)."""
    errors: list[FieldError] = []
    return _validate_event(index, event, errors), errors


def _fast_event(event: dict[str, Any]) -> ValidEvent | None:
    """The common, fully valid event with plain checks inlined; None sends it to the slow path."""
    get = event.get
    external_id = get("external_customer_id")
    metric_key = get("metric_key")
    value = get("value")
    granularity = get("granularity", "daily")
    event_type = get("event_type", "credit")
    stamp = get("timestamp")
    properties = get("properties")
    if not (
        type(external_id) is str
        and 0 < len(external_id) <= MAX_EXTERNAL_ID_CHARS
        and type(metric_key) is str
        and 0 < len(metric_key) <= MAX_METRIC_KEY_CHARS
        and type(value) in (float, int)
        and type(granularity) is str
        and granularity in GRANULARITIES
        and type(event_type) is str
        and event_type in EVENT_TYPES
        and (stamp is None or type(stamp) is str)
        and (properties is None or type(properties) is dict)
    ):
        return None
    number: float = value  # type: ignore[assignment]
    if type(value) is int:
        if not -_MAX_FLOAT_INT < value < _MAX_FLOAT_INT:
            return None
        number = float(value)
    elif not math.isfinite(number):
        return None
    timestamp = None
    if stamp is not None:
        timestamp = parse_timestamp(stamp)
        if timestamp is None or not storable_timestamp(timestamp, granularity):
            return None
    text = "{}"
    if properties:
        try:
            raw = canonical_json(properties)
        except TypeError:
            return None
        if len(raw) > MAX_PROPERTIES_BYTES or _too_deep(raw, properties):
            return None
        text = raw.decode("utf-8")
    return ValidEvent(external_id, metric_key, number, timestamp, granularity, text, event_type)


_MAX_FLOAT_INT = 2**1023


def _validate_event(index: int, event: Any, errors: list[FieldError]) -> ValidEvent | None:
    if type(event) is dict:
        fast = _fast_event(event)
        if fast is not None:
            return fast
    if not isinstance(event, dict):
        errors.append(FieldError(f"events[{index}]", "Each event must be a JSON object"))
        return None
    before = len(errors)
    external_id = _required_string(event, "external_customer_id", MAX_EXTERNAL_ID_CHARS, index, errors)
    metric_key = _required_string(event, "metric_key", MAX_METRIC_KEY_CHARS, index, errors)
    value = _value(event.get("value", _MISSING), index, errors)
    granularity_errors: list[FieldError] = []  # reported after the timestamp's, which depends on it
    granularity = _choice(
        event.get("granularity"), "granularity", GRANULARITIES, "daily", index, granularity_errors
    )
    timestamp = _timestamp(event.get("timestamp"), granularity or "daily", index, errors)
    errors.extend(granularity_errors)
    properties = _properties(event.get("properties"), index, errors)
    event_type = _choice(event.get("event_type"), "event_type", EVENT_TYPES, "credit", index, errors)
    if len(errors) != before:
        return None
    return ValidEvent(external_id, metric_key, value, timestamp, granularity, properties, event_type)  # type: ignore[arg-type]


_MISSING = object()


def _required_string(
    event: dict[str, Any], field: str, max_chars: int, index: int, errors: list[FieldError]
) -> str | None:
    value = event.get(field, _MISSING)
    if type(value) is str and 0 < len(value) <= max_chars:
        return value
    if value is _MISSING or value is None:
        message = "Field required"
    elif not isinstance(value, str):
        message = "Must be a string"
    else:
        message = f"Must be between 1 and {max_chars} characters long"
    errors.append(FieldError(f"events[{index}].{field}", message))
    return None


def _value(value: Any, index: int, errors: list[FieldError]) -> float | None:
    kind = type(value)
    if kind is float and math.isfinite(value):
        return value
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            pass
    if value is _MISSING or value is None:
        message = "Field required"
    elif kind in (int, float, _NonFinite):
        message = "Must be a finite number (NaN, Infinity and out-of-range numbers are not accepted)"
    else:
        message = "Must be a number (booleans and numeric strings are not numbers)"
    errors.append(FieldError(f"events[{index}].value", message))
    return None


def _timestamp(value: Any, granularity: str, index: int, errors: list[FieldError]) -> datetime | None:
    if value is None:
        return None
    path = f"events[{index}].timestamp"
    if type(value) is not str:
        errors.append(FieldError(path, "Must be an ISO 8601 date-time string"))
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        errors.append(FieldError(path, "Must be an ISO 8601 date-time, e.g. 2026-06-11T09:30:00Z"))
    elif not storable_timestamp(parsed, granularity):
        errors.append(
            FieldError(path, f"Must be from {timestamp_range_text(granularity)} for {granularity} values")
        )
        return None
    return parsed


def parse_timestamp(text: str) -> datetime | None:
    """An aware UTC datetime, or None. Offset-less values are UTC. A time of day is required."""
    if len(text) < 11 or len(text) > 64 or not text[:4].isdigit():
        return None
    candidate = text
    if candidate[-1] in "zZ":
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def _choice(
    value: Any, field: str, allowed: frozenset[str], default: str, index: int, errors: list[FieldError]
) -> str | None:
    if value is None:
        return default
    if type(value) is str and value in allowed:
        return value
    errors.append(FieldError(f"events[{index}].{field}", f"Must be one of: {', '.join(sorted(allowed))}"))
    return None


def _properties(value: Any, index: int, errors: list[FieldError]) -> str | None:
    if value is None:
        return "{}"
    path = f"events[{index}].properties"
    if type(value) is not dict:
        errors.append(FieldError(path, "Must be a JSON object"))
        return None
    if not value:
        return "{}"
    try:
        text = canonical_json(value)
    except TypeError:
        errors.append(_unencodable_properties(value, path))
        return None
    if len(text) > MAX_PROPERTIES_BYTES:
        errors.append(
            FieldError(
                path, f"Must be at most {MAX_PROPERTIES_BYTES} bytes as compact UTF-8 JSON ({len(text)})"
            )
        )
        return None
    if _too_deep(text, value):
        errors.append(FieldError(path, DEPTH_MESSAGE))
        return None
    return text.decode("utf-8")


def _too_deep(text: bytes, properties: dict[str, Any]) -> bool:
    """Deeper than storage allows; each level takes 2 bytes, so short texts skip the walk."""
    return (
        len(text) > 2 * PROPERTIES_MAX_DEPTH
        and text.count(b"{") + text.count(b"[") > PROPERTIES_MAX_DEPTH
        and properties_depth(properties) > PROPERTIES_MAX_DEPTH
    )


def _unencodable_properties(properties: dict[str, Any], path: str) -> FieldError:
    """Why orjson refused properties parsed by the lenient parser: an integer or the depth."""
    oversized = _first_oversized_integer(properties, path)
    if oversized is not None:
        return FieldError(oversized, INTEGER_RANGE_MESSAGE)
    if properties_depth(properties) > PROPERTIES_MAX_DEPTH:
        return FieldError(path, DEPTH_MESSAGE)
    return FieldError(path, "Cannot be stored: only finite numbers are accepted")


def _oversized_integers(raw: bytes, payload: Any, events: list[ValidEvent]) -> list[FieldError]:
    """Integers beyond 64 bits in properties. orjson reads them as floats (1e19 would come back
    instead of the integer sent), printed with an exponent: only properties whose stored text has
    one, and holds a float that large, are checked against the standard library's exact parse."""
    if "e+" not in "".join(event.properties for event in events):
        return []
    suspects = [
        index
        for index, event in enumerate(events)
        if "e+" in event.properties and _holds_huge_float(payload["events"][index].get("properties"))
    ]
    if not suspects:
        return []
    try:
        exact = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    errors = []
    for index in suspects:
        path = f"events[{index}].properties"
        found = _first_oversized_integer(exact["events"][index].get("properties"), path)
        if found is not None:
            errors.append(FieldError(found, INTEGER_RANGE_MESSAGE))
    return errors


def _walk(node: Any, path: str) -> list[tuple[str, Any]]:
    """Every value in a parsed JSON value with its path (``a.b[2]``), without recursion."""
    found: list[tuple[str, Any]] = []
    pending = [(path, node)]
    while pending:
        where, current = pending.pop()
        found.append((where, current))
        if isinstance(current, dict):
            pending.extend((f"{where}.{key}", item) for key, item in current.items())
        elif isinstance(current, list):
            pending.extend((f"{where}[{i}]", item) for i, item in enumerate(current))
    return found


def _holds_huge_float(properties: Any) -> bool:
    return any(type(v) is float and abs(v) >= 2.0**63 for _, v in _walk(properties, ""))


def _first_oversized_integer(properties: Any, path: str) -> str | None:
    oversized = [
        where
        for where, v in _walk(properties, path)
        if type(v) is int and not PROPERTY_INT_MIN <= v <= PROPERTY_INT_MAX
    ]
    return min(oversized) if oversized else None
