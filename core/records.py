"""The usage record on the Kafka topic: its key (the replace key), its ID and its wire format.

Wire format (value): compact JSON (orjson) object with ``"v": 1`` as schema version. The Kafka key
is the replace key: a compact JSON array ``[org_id, customer_id, metric_key, granularity,
period_start]``. A JSON array is unambiguous whatever characters the IDs hold, unlike a joined
string. The event ID is derived from the same key bytes, so it is stable per stored value.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import orjson

SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A record on the topic that cannot be decoded into a ``UsageRecord``."""


@dataclass(frozen=True, slots=True)
class ReplaceKey:
    org_id: str
    customer_id: str
    metric_key: str
    granularity: str
    period_start: str  # RFC 3339, UTC, "Z" suffix

    def to_bytes(self) -> bytes:
        return replace_key_bytes(
            self.org_id, self.customer_id, self.metric_key, self.granularity, self.period_start
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> ReplaceKey:
        parts = _parsed(raw, "key")
        if not isinstance(parts, list) or len(parts) != 5 or not all(isinstance(p, str) for p in parts):
            raise RecordError("key must be a JSON array of five strings")
        return cls(*parts)

    def event_id(self) -> str:
        """A UUID derived from the key: same key, same ID, in every service and every run."""
        return str(uuid.UUID(bytes=event_id_digest(self.to_bytes())))


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One accepted event, as ingress produces it and streams consumes it."""

    org_id: str
    customer_id: str
    external_customer_id: str
    metric_key: str
    granularity: str
    period_start: str  # RFC 3339 UTC
    value: float
    event_type: str  # "credit" | "debit"
    created_at_us: int  # event timestamp (or ingestion time), microseconds since the epoch, UTC
    ingested_at_us: int  # when ingress accepted it, microseconds since the epoch, UTC
    properties: str  # compact JSON object text, keys sorted; "{}" when none

    @property
    def key(self) -> ReplaceKey:
        return ReplaceKey(self.org_id, self.customer_id, self.metric_key, self.granularity, self.period_start)

    @property
    def event_id(self) -> str:
        return self.key.event_id()

    def to_bytes(self) -> bytes:
        return record_bytes(**asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> UsageRecord:
        payload = _parsed(raw, "value")
        if not isinstance(payload, dict):
            raise RecordError("value must be a JSON object")
        if payload.get("v") != SCHEMA_VERSION:
            raise RecordError(f"unsupported schema version {payload.get('v')!r}")
        return cls(**_checked_fields(payload))


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "org_id": str,
    "customer_id": str,
    "external_customer_id": str,
    "metric_key": str,
    "granularity": str,
    "period_start": str,
    "value": (int, float),
    "event_type": str,
    "created_at_us": int,
    "ingested_at_us": int,
    "properties": str,
}


def _parsed(raw: bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"{what} is not JSON: {exc}") from exc


def _checked_fields(payload: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, expected in _FIELD_TYPES.items():
        if name not in payload:
            raise RecordError(f"missing field {name!r}")
        value: Any = payload[name]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise RecordError(f"field {name!r} has the wrong type")
        fields[name] = float(payload[name]) if name == "value" else value
    return fields


def canonical_json(value: Any) -> bytes:
    """Compact JSON with object keys sorted: how a JSON value is stored and compared (types kept)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_text(value: Any) -> str:
    """``canonical_json`` as text."""
    return canonical_json(value).decode("utf-8")


def canonical_properties(properties: dict[str, Any] | None) -> str:
    """The stored form of ``properties``: their canonical JSON text, ``{}`` when none."""
    return canonical_text(properties or {})


def replace_key_bytes(
    org_id: str, customer_id: str, metric_key: str, granularity: str, period_start: str
) -> bytes:
    """The Kafka key of a record: the replace key as a compact JSON array (``ReplaceKey.to_bytes``)."""
    return orjson.dumps([org_id, customer_id, metric_key, granularity, period_start])


def event_id_digest(key_bytes: bytes) -> bytes:
    """The 16 bytes of the event ID (a UUID) of the replace key encoded as ``key_bytes``."""
    return hashlib.blake2b(key_bytes, digest_size=16).digest()


def record_bytes(
    *,
    org_id: str,
    customer_id: str,
    external_customer_id: str,
    metric_key: str,
    granularity: str,
    period_start: str,
    value: float,
    event_type: str,
    created_at_us: int,
    ingested_at_us: int,
    properties: str,
) -> bytes:
    """The Kafka value of a record (``UsageRecord.to_bytes``): the one encoder of the wire format,
    called directly on the push path to skip building the dataclass."""
    return orjson.dumps(
        {
            "v": SCHEMA_VERSION,
            "org_id": org_id,
            "customer_id": customer_id,
            "external_customer_id": external_customer_id,
            "metric_key": metric_key,
            "granularity": granularity,
            "period_start": period_start,
            "value": value,
            "event_type": event_type,
            "created_at_us": created_at_us,
            "ingested_at_us": ingested_at_us,
            "properties": properties,
        }
    )
