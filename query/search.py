"""Validation of the search request body (pure: no FastAPI, no ClickHouse).

Every field is optional; ``null`` means "not given". Unknown fields are ignored. Failures are
collected as ``{"path": <field>, "message": ...}`` entries (``body`` for a body that is not a JSON
object), in the order of the fields below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.errors import MAX_OFFSET, InvalidFields, check_integer, json_object_body
from core.periods import as_utc, epoch_micros
from core.records import canonical_text
from core.storage_bounds import DATETIME64_MAX, DATETIME64_MIN, MICROSECOND

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_ID_LENGTH = 255
MAX_EVENT_CODE_LENGTH = 128
MAX_PROPERTY_FILTERS = 50
MAX_PROPERTY_KEY_LENGTH = 1024
# Stored properties are at most 4096 bytes of compact JSON, so a larger filter could never match.
MAX_PROPERTY_FILTERS_BYTES = 4096
EVENT_TYPES = ("credit", "debit")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A created_at bound outside what the column holds is moved just outside it: the same matches
# (none lie beyond), and every later step (SQL parameters, day arithmetic) stays within its types.
_LOWEST_US = (DATETIME64_MIN - MICROSECOND - _EPOCH) // MICROSECOND
_HIGHEST_US = (DATETIME64_MAX + MICROSECOND - _EPOCH) // MICROSECOND


class SearchValidationError(InvalidFields):
    """A search body that fails validation."""


@dataclass(frozen=True)
class PropertyFilter:
    key: str
    canonical_value: str  # compact JSON, keys sorted: what the stored ``properties`` hold

    @property
    def needle(self) -> str:
        """Text that the stored (canonical) ``properties`` of every match contain.

        ``"key":`` always; followed by the value itself for strings, booleans and null, whose
        canonical text is unique. Numbers (``200`` vs ``200.0``) and nested values (which may hold
        numbers) have several spellings, so only the key part is required for them.
        """
        prefix = canonical_text(self.key) + ":"
        if self.canonical_value[0] in '"tfn':
            return prefix + self.canonical_value
        return prefix


@dataclass(frozen=True)
class SearchRequest:
    customer_id: str | None = None
    external_customer_id: str | None = None
    event_code: str | None = None
    event_type: str | None = None
    created_at_from_us: int | None = None  # inclusive, microseconds since the epoch (UTC)
    created_at_to_us: int | None = None  # inclusive
    property_filters: tuple[PropertyFilter, ...] = field(default_factory=tuple)
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_search_body(raw: bytes) -> SearchRequest:
    """The search request in ``raw`` (an empty body is ``{}``); raises ``SearchValidationError``."""
    return validate_search(json_object_body(raw, SearchValidationError, empty=True))


def validate_search(body: dict[str, Any]) -> SearchRequest:
    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    for name, check in _CHECKS:
        raw = body.get(name)
        if raw is None:
            continue
        try:
            values[name] = check(raw)
        except ValueError as exc:
            errors.append({"path": name, "message": str(exc)})
    start, end = values.get("created_at_from"), values.get("created_at_to")
    if start is not None and end is not None and end < start:
        errors.append({"path": "created_at_to", "message": "must not be before created_at_from"})
    if errors:
        raise SearchValidationError(errors)
    return SearchRequest(
        customer_id=values.get("customer_id"),
        external_customer_id=values.get("external_customer_id"),
        event_code=values.get("event_code"),
        event_type=values.get("event_type"),
        created_at_from_us=start,
        created_at_to_us=end,
        property_filters=values.get("event_property_filters", ()),
        limit=values.get("limit", DEFAULT_LIMIT),
        offset=values.get("offset", 0),
    )


def _string(max_length: int) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if not 1 <= len(value) <= max_length:
            raise ValueError(f"must be 1 to {max_length} characters")
        return value

    return check


def _event_type(value: Any) -> str:
    if value not in EVENT_TYPES:
        raise ValueError("must be one of: credit, debit")
    return str(value)


def _timestamp(value: Any) -> int:
    """RFC 3339 / ISO 8601 date-time (an offset-less value is UTC) as microseconds since the epoch."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    text = value.strip()
    if len(text) < 19 or text[10] not in "Tt ":
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-06-11T09:30:00Z")
    try:
        moment = as_utc(datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text))
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-06-11T09:30:00Z") from None
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is in the year 10000 in UTC
        raise ValueError("must be between years 1 and 9999 in UTC") from None
    return min(max(epoch_micros(moment), _LOWEST_US), _HIGHEST_US)


def _integer(minimum: int, maximum: int) -> Any:
    def check(value: Any) -> int:
        return check_integer(value, minimum, maximum)

    return check


def _property_filters(value: Any) -> tuple[PropertyFilter, ...]:
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object of property name to JSON value")
    if len(value) > MAX_PROPERTY_FILTERS:
        raise ValueError(f"at most {MAX_PROPERTY_FILTERS} properties")
    try:
        text = canonical_text(value)
    except TypeError:  # nested deeper than orjson writes (stored properties are far shallower)
        raise ValueError("values nested this deep can never match a stored property") from None
    if len(text.encode("utf-8")) > MAX_PROPERTY_FILTERS_BYTES:
        raise ValueError(f"at most {MAX_PROPERTY_FILTERS_BYTES} bytes as compact JSON")
    filters = []
    for key, wanted in value.items():
        if len(key) > MAX_PROPERTY_KEY_LENGTH:
            raise ValueError(f"property names are at most {MAX_PROPERTY_KEY_LENGTH} characters")
        filters.append(PropertyFilter(key, canonical_text(wanted)))
    return tuple(filters)


_CHECKS: tuple[tuple[str, Any], ...] = (
    ("customer_id", _string(MAX_ID_LENGTH)),
    ("external_customer_id", _string(MAX_ID_LENGTH)),
    ("event_code", _string(MAX_EVENT_CODE_LENGTH)),
    ("event_type", _event_type),
    ("created_at_from", _timestamp),
    ("created_at_to", _timestamp),
    ("event_property_filters", _property_filters),
    ("limit", _integer(1, MAX_LIMIT)),
    ("offset", _integer(0, MAX_OFFSET)),
)
