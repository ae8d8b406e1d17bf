from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY

from ingress.metrics import count_call, count_invalid
from ingress.push.call_log import PushCall

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _events(outcome: str) -> float:
    return _value("quivly_ingress_events_total", outcome=outcome)


def test_a_live_call_counts_written_and_unmatched_events() -> None:
    written, unmatched, test = _events("written"), _events("unmatched"), _events("test")
    count_call(PushCall("org_1", NOW, "live", 200, "", total=10, matched=8, unmatched=2, inserted=8))
    assert _events("written") == written + 8
    assert _events("unmatched") == unmatched + 2
    assert _events("test") == test


def test_a_verify_only_call_counts_test_events_and_stores_nothing() -> None:
    written, test = _events("written"), _events("test")
    count_call(PushCall("org_1", NOW, "test", 200, "", total=5, matched=4, unmatched=1, inserted=0))
    assert _events("test") == test + 4
    assert _events("written") == written


def test_replays_and_rate_limits_are_counted_apart_from_events() -> None:
    replays = _value("quivly_ingress_idempotency_replays_total")
    limited = _value("quivly_ingress_rate_limited_total")
    written = _events("written")
    count_call(PushCall("org_1", NOW, "live", 200, "", 10, 10, 0, 0, [], idempotency_replayed=1))
    count_call(PushCall("org_1", NOW, "live", 429, "RATE_LIMITED"))
    assert _value("quivly_ingress_idempotency_replays_total") == replays + 1
    assert _value("quivly_ingress_rate_limited_total") == limited + 1
    assert _events("written") == written


def test_invalid_events_are_the_distinct_events_named_by_validation() -> None:
    invalid = _events("invalid")
    count_invalid(["events[0].value", "events[0].metric_key", "events[7].granularity"])
    assert _events("invalid") == invalid + 2
    count_invalid(["events"])  # the batch itself (empty, too long): one refused request
    assert _events("invalid") == invalid + 3
