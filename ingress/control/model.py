"""Pure business rules of the control plane: validation, conflict detection, snapshot building.

No I/O here (no FastAPI, no clickhouse-connect): everything is unit-tested without the network.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.errors import ApiError, check_text, validation_failed
from core.periods import format_utc

ROLLUPS = ("sum", "max", "min", "avg", "last")
DEFAULT_ROLLUP = "sum"
CONFIG_SOURCES = ("push_api",)
STATUS_DRAFT = "draft"
STATUS_PUBLISHED = "published"
KEY_PLACEHOLDER = "$QUIVLY_API_KEY"

MAX_NAME = 255
MAX_CUSTOMER_ID = 255
MAX_EXTERNAL_ID = 255
MAX_SOURCE = 64
MAX_CUSTOMERS_PER_CALL = 100_000


# --------------------------------------------------------------------------------------- versions
class VersionClock:
    """Row versions: microseconds since the epoch, strictly increasing within one process."""

    def __init__(self, now_us: Callable[[], int] | None = None) -> None:
        self._now_us = now_us or (lambda: time.time_ns() // 1000)
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._now_us(), self._last + 1)
            return self._last


def version_to_datetime(version: int) -> datetime:
    return datetime.fromtimestamp(version / 1_000_000, tz=UTC)


def iso_z(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` suffix, millisecond precision."""
    return None if value is None else format_utc(value, milliseconds=True)


# --------------------------------------------------------------------------------------- validation
def not_found(message: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def _check_string(value: Any, path: str, max_len: int, errors: list[dict[str, str]]) -> str | None:
    if check_text(value, path, max_len, errors) is None:
        return None
    if any(ord(ch) < 32 for ch in value):
        errors.append({"path": path, "message": "must not contain control characters"})
        return None
    return value


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise validation_failed([{"path": "body", "message": "must be a JSON object"}])
    return body


def validate_org_name(body: Any) -> str:
    errors: list[dict[str, str]] = []
    name = _check_string(_require_object(body).get("name"), "name", MAX_NAME, errors)
    if errors or name is None:
        raise validation_failed(errors)
    return name.strip()


def validate_config_source(body: Any) -> str:
    source = _require_object(body).get("source", "push_api")
    if source not in CONFIG_SOURCES:
        raise validation_failed(
            [{"path": "source", "message": f"must be one of {', '.join(CONFIG_SOURCES)}"}]
        )
    return str(source)


def validate_rollup(body: Any) -> str:
    rollup = _require_object(body).get("rollup")
    if rollup not in ROLLUPS:
        raise validation_failed([{"path": "rollup", "message": f"must be one of {', '.join(ROLLUPS)}"}])
    return str(rollup)


@dataclass(frozen=True)
class ExternalId:
    source: str
    id: str


@dataclass(frozen=True)
class CustomerInput:
    customer_id: str
    name: str
    external_ids: tuple[ExternalId, ...]


def _validate_external_ids(raw: Any, path: str, errors: list[dict[str, str]]) -> tuple[ExternalId, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.append({"path": path, "message": "must be a list"})
        return ()
    found: dict[str, ExternalId] = {}
    for j, item in enumerate(raw):
        item_path = f"{path}[{j}]"
        if not isinstance(item, dict):
            errors.append({"path": item_path, "message": "must be an object with source and id"})
            continue
        source = _check_string(item.get("source"), f"{item_path}.source", MAX_SOURCE, errors)
        ext = _check_string(item.get("id"), f"{item_path}.id", MAX_EXTERNAL_ID, errors)
        if source is None or ext is None:
            continue
        previous = found.get(ext)
        if previous is not None and previous.source != source:
            errors.append({"path": f"{item_path}.id", "message": "the same id is listed with two sources"})
            continue
        found[ext] = ExternalId(source=source, id=ext)
    return tuple(found.values())


def validate_customers(body: Any) -> list[CustomerInput]:
    """Validates a bulk upsert body; raises one 422 listing every failing field."""
    raw = _require_object(body).get("customers")
    if not isinstance(raw, list):
        raise validation_failed([{"path": "customers", "message": "must be a list"}])
    if len(raw) > MAX_CUSTOMERS_PER_CALL:
        raise validation_failed(
            [{"path": "customers", "message": f"at most {MAX_CUSTOMERS_PER_CALL} customers per call"}]
        )
    errors: list[dict[str, str]] = []
    customers: list[CustomerInput] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"customers[{i}]"
        if not isinstance(item, dict):
            errors.append({"path": path, "message": "must be an object"})
            continue
        customer_id = _check_string(item.get("customer_id"), f"{path}.customer_id", MAX_CUSTOMER_ID, errors)
        name_raw = item.get("name")
        name = "" if name_raw is None else _check_string(name_raw, f"{path}.name", MAX_NAME, errors)
        external_ids = _validate_external_ids(item.get("external_ids"), f"{path}.external_ids", errors)
        if customer_id is None or name is None:
            continue
        if customer_id in seen:
            errors.append({"path": f"{path}.customer_id", "message": "listed twice in this request"})
            continue
        seen.add(customer_id)
        customers.append(CustomerInput(customer_id, name, external_ids))
        if len(errors) >= 100:
            break
    if errors:
        raise validation_failed(errors[:100])
    return customers


# --------------------------------------------------------------------------------------- upsert plan
@dataclass(frozen=True)
class Owner:
    customer_id: str
    source: str


@dataclass
class UpsertPlan:
    customers: list[CustomerInput]
    external_ids_to_write: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (external_id, source, cid)
    external_ids_to_delete: list[tuple[str, str, str]] = field(default_factory=list)


def plan_customer_upsert(existing: Mapping[str, Owner], customers: list[CustomerInput]) -> UpsertPlan:
    """What to write so that each given customer has exactly the given external IDs.

    ``existing`` maps every current external ID of the organization to its owner. An external ID
    may move between two customers of the same request; one held by a customer outside the request
    (or claimed twice in the request) is a 409 CONFLICT listing every clash.
    """
    in_request = {c.customer_id for c in customers}
    claimed: dict[str, Owner] = {}
    conflicts: list[dict[str, str]] = []
    for customer in customers:
        for ext in customer.external_ids:
            other = claimed.get(ext.id)
            if other is not None:
                conflicts.append(_conflict(ext, customer.customer_id, other.customer_id))
                continue
            claimed[ext.id] = Owner(customer.customer_id, ext.source)
            owner = existing.get(ext.id)
            if (
                owner is not None
                and owner.customer_id != customer.customer_id
                and owner.customer_id not in in_request
            ):
                conflicts.append(_conflict(ext, customer.customer_id, owner.customer_id))
    if conflicts:
        raise ApiError(
            409,
            "CONFLICT",
            "An external ID is already used by another customer of this organization",
            details=conflicts[:100],
        )
    plan = UpsertPlan(customers=customers)
    for ext_id, owner in claimed.items():
        if existing.get(ext_id) != owner:
            plan.external_ids_to_write.append((ext_id, owner.source, owner.customer_id))
    for ext_id, owner in existing.items():
        if owner.customer_id in in_request and ext_id not in claimed:
            plan.external_ids_to_delete.append((ext_id, owner.source, owner.customer_id))
    return plan


def _conflict(ext: ExternalId, customer_id: str, used_by: str) -> dict[str, str]:
    return {"source": ext.source, "id": ext.id, "customer_id": customer_id, "used_by": used_by}


def customers_view(
    customer_rows: Iterable[tuple[str, str, datetime | None]],
    external_rows: Iterable[tuple[str, str, str]],
) -> list[dict[str, Any]]:
    """(customer_id, name, updated_at) + (customer_id, source, external_id) → the API list, sorted."""
    by_customer: dict[str, list[dict[str, str]]] = {}
    for customer_id, source, ext in external_rows:
        by_customer.setdefault(customer_id, []).append({"source": source, "id": ext})
    result = []
    for customer_id, name, updated_at in sorted(customer_rows, key=lambda r: r[0]):
        ids = sorted(by_customer.get(customer_id, []), key=lambda e: (e["source"], e["id"]))
        result.append(
            {"customer_id": customer_id, "name": name, "external_ids": ids, "updated_at": iso_z(updated_at)}
        )
    return result


# --------------------------------------------------------------------------------------- configuration
def push_endpoint(public_base_url: str) -> str:
    return public_base_url.rstrip("/") + "/v1/usage/events"


def curl_example(endpoint: str, api_key: str | None, sample_metric: str = "api_calls") -> str:
    """A ready-to-run curl; the key placeholder is left for the shell to expand."""
    body = {
        "events": [
            {
                "external_customer_id": "0015g00000ABC",
                "metric_key": sample_metric,
                "value": 1,
                "granularity": "daily",
            }
        ]
    }
    key = shlex.quote(api_key) if api_key else KEY_PLACEHOLDER
    return (
        f"curl -X POST {shlex.quote(endpoint)} \\\n"
        f'  -H "Authorization: Bearer {key}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(json.dumps(body, separators=(',', ':')))}"
    )


def metrics_view(
    sightings: Iterable[tuple[str, datetime | None, datetime | None]], rollups: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Discovered metrics (metric_key, first_seen_at, last_seen_at) with their rollup (default sum)."""
    return [
        {
            "metric_key": key,
            "rollup": rollups.get(key, DEFAULT_ROLLUP),
            "first_seen_at": iso_z(first),
            "last_seen_at": iso_z(last),
        }
        for key, first, last in sorted(sightings, key=lambda r: r[0])
    ]


# --------------------------------------------------------------------------------------- snapshot
@dataclass
class Snapshot:
    """What the push path resolves from, entirely in memory.

    ``external_ids`` maps org → external_id → (version, customer_id or None when removed);
    increments are applied only when newer, so re-reading overlapping rows is harmless.
    """

    org_by_key_hash: dict[str, str] = field(default_factory=dict)
    published: frozenset[str] = frozenset()
    external_ids: dict[str, dict[str, tuple[int, str | None]]] = field(default_factory=dict)
    max_external_version: int = 0

    def customer_for(self, org_id: str, external_id: str) -> str | None:
        entry = self.external_ids.get(org_id, {}).get(external_id)
        return entry[1] if entry is not None else None

    def customer_count(self) -> int:
        return sum(1 for ids in self.external_ids.values() for entry in ids.values() if entry[1] is not None)


def key_index(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(org_id, current key_hash) → {key_hash: org_id}; empty hashes (no key) are skipped."""
    return {key_hash: org_id for org_id, key_hash in rows if key_hash}


def published_orgs(rows: Iterable[tuple[str, str]]) -> frozenset[str]:
    """(org_id, current status) → the organizations whose configuration is published."""
    return frozenset(org_id for org_id, status in rows if status == STATUS_PUBLISHED)


def apply_external_id_rows(snapshot: Snapshot, rows: Iterable[tuple[str, str, str, int, int]]) -> int:
    """Applies (org_id, external_id, customer_id, is_deleted, version) rows; returns how many changed."""
    changed = 0
    for org_id, ext, customer_id, is_deleted, version in rows:
        ids = snapshot.external_ids.setdefault(org_id, {})
        current = ids.get(ext)
        if current is not None and current[0] >= version:
            continue
        ids[ext] = (version, None if is_deleted else customer_id)
        changed += 1
        if version > snapshot.max_external_version:
            snapshot.max_external_version = version
    return changed
