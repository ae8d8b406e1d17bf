"""Resolution, Kafka records and the per-event report of one push (pure logic).

Input: the validated events, the organization, the mode. Output: the records to produce (in
request order, so later events of one key win) and the response body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.periods import Granularity, epoch_micros, format_utc, period_start
from core.records import ReplaceKey, record_bytes
from ingress.push.validation import ValidEvent

REPORT_LIMIT = 100
UNKNOWN_CUSTOMER = "UNKNOWN_CUSTOMER"
UNKNOWN_CUSTOMER_REASON = "external_customer_id is not recognized for this organization"


@dataclass(slots=True)
class PushPlan:
    """What one push writes and answers."""

    live: bool
    records: list[tuple[bytes, bytes]]  # (key, value), in request order; empty in test mode
    total: int
    matched: int
    results: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    unmatched_external_ids: list[str] = field(default_factory=list)  # first 100 distinct
    metric_keys: set[str] = field(default_factory=set)

    @property
    def unmatched(self) -> int:
        return self.total - self.matched

    def response(self, stored: bool) -> dict[str, Any]:
        """The 200 body; ``stored`` is true once the broker acknowledged every record."""
        inserted = len(self.records) if stored else 0
        return {
            "success": True,
            "mode": "live" if self.live else "test",
            "stored": stored and inserted > 0,
            "inserted": inserted,
            "summary": {"total": self.total, "matched": self.matched, "unmatched": self.unmatched},
            "results": self.results,
            "errors": self.errors,
        }


class PeriodCache:
    """Period start (RFC 3339) per (granularity, hour bucket): buckets are shared by many events."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], str] = {}

    def period_start(self, moment: datetime, granularity: str) -> str:
        hour = epoch_micros(moment) // 3_600_000_000
        cache_key = (granularity, hour)
        cached = self._cache.get(cache_key)
        if cached is None:
            cached = format_utc(period_start(moment, Granularity(granularity)))
            self._cache[cache_key] = cached
        return cached


def plan_push(
    org_id: str,
    events: list[ValidEvent],
    resolve: Callable[[str, str], str | None],
    live: bool,
    received_at: datetime,
) -> PushPlan:
    """Resolves every event and builds the records (live mode) and the report."""
    received_us = epoch_micros(received_at)
    periods = PeriodCache()
    customers: dict[str, str | None] = {}
    records: list[tuple[bytes, bytes]] = []
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    unmatched_ids: dict[str, None] = {}
    metric_keys: set[str] = set()
    matched = 0
    for index, event in enumerate(events):
        external_id = event.external_customer_id
        metric_keys.add(event.metric_key)
        if external_id in customers:
            customer_id = customers[external_id]
        else:
            customer_id = customers[external_id] = resolve(org_id, external_id)
        if customer_id is None:
            if index < REPORT_LIMIT:
                results.append(_unmatched_result(index, event))
            if len(errors) < REPORT_LIMIT:
                errors.append(_unknown_customer(index, external_id))
            if len(unmatched_ids) < REPORT_LIMIT:
                unmatched_ids[external_id] = None
            continue
        matched += 1
        moment = event.timestamp or received_at
        period = periods.period_start(moment, event.granularity)
        key = ReplaceKey(org_id, customer_id, event.metric_key, event.granularity, period)
        key_bytes = key.to_bytes()
        if index < REPORT_LIMIT:
            results.append(_matched_result(index, event, key, customer_id, period, live))
        if live:
            value = record_bytes(
                org_id=org_id,
                customer_id=customer_id,
                external_customer_id=external_id,
                metric_key=event.metric_key,
                granularity=event.granularity,
                period_start=period,
                value=event.value,
                event_type=event.event_type,
                created_at_us=epoch_micros(moment),
                ingested_at_us=received_us,
                properties=event.properties,
            )
            records.append((key_bytes, value))
    return PushPlan(live, records, len(events), matched, results, errors, list(unmatched_ids), metric_keys)


def _matched_result(
    index: int, event: ValidEvent, key: ReplaceKey, customer_id: str, period: str, live: bool
) -> dict[str, Any]:
    return {
        "index": index,
        "event_id": key.event_id(),
        "external_customer_id": event.external_customer_id,
        "customer_id": customer_id,
        "metric_key": event.metric_key,
        "granularity": event.granularity,
        "period_start": period,
        "matched": True,
        "written": live,
    }


def _unmatched_result(index: int, event: ValidEvent) -> dict[str, Any]:
    return {
        "index": index,
        "external_customer_id": event.external_customer_id,
        "metric_key": event.metric_key,
        "matched": False,
        "written": False,
    }


def _unknown_customer(index: int, external_id: str) -> dict[str, Any]:
    return {
        "index": index,
        "external_customer_id": external_id,
        "code": UNKNOWN_CUSTOMER,
        "reason": UNKNOWN_CUSTOMER_REASON,
    }
