from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.api_keys import hash_api_key
from query.auth import KeyResolver, bearer_key
from query.events import event_from_row, json_number


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer qvk_abc", "qvk_abc"),
        ("bearer qvk_abc", "qvk_abc"),
        ("Bearer  qvk_abc ", "qvk_abc"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic qvk_abc", None),
        ("Bearer a b", None),
        ("Bearer " + "x" * 600, None),
    ],
)
def test_bearer_key(header: str | None, expected: str | None) -> None:
    assert bearer_key(header) == expected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_resolver_caches_hits_and_misses_for_the_ttl_only() -> None:
    calls: list[str] = []
    owners = {hash_api_key("k1"): "org-1"}

    def lookup(key_hash: str) -> str | None:
        calls.append(key_hash)
        return owners.get(key_hash)

    clock = Clock()
    resolver = KeyResolver(lookup, ttl_s=2.0, max_entries=10, clock=clock)
    assert resolver.org_for_key("k1") == "org-1"
    assert resolver.org_for_key("nope") is None
    owners.clear()  # the key is rotated away
    clock.now = 1.9
    assert resolver.org_for_key("k1") == "org-1"
    assert len(calls) == 2
    clock.now = 2.1
    assert resolver.org_for_key("k1") is None
    assert len(calls) == 3


def test_resolver_cached_answers_without_a_lookup_within_the_ttl() -> None:
    calls: list[str] = []
    clock = Clock()
    resolver = KeyResolver(lambda h: calls.append(h) or "org-1", ttl_s=2.0, max_entries=10, clock=clock)
    assert resolver.cached("k1") == (False, None) and calls == []
    assert resolver.org_for_key("k1") == "org-1"
    clock.now = 1.9
    assert resolver.cached("k1") == (True, "org-1") and len(calls) == 1
    clock.now = 2.1
    assert resolver.cached("k1") == (False, None)


def test_resolver_is_bounded() -> None:
    resolver = KeyResolver(lambda h: None, ttl_s=2.0, max_entries=2, clock=Clock())
    for key in ("a", "b", "c"):
        resolver.org_for_key(key)
    assert len(resolver._cache) == 2


def test_json_number() -> None:
    assert json_number(300.0) == 300 and isinstance(json_number(300.0), int)
    assert json_number(2.5) == 2.5
    assert json_number(-0.0) == 0
    assert isinstance(json_number(1e300), float)  # beyond 64-bit integers: orjson writes it as 1e300
    assert isinstance(json_number(2.0**64 - 2048), int) and isinstance(json_number(2.0**64), float)


def test_event_from_row() -> None:
    row = (
        "0b6f1a6e-0000-4000-8000-000000000000",
        "cust",
        "ext",
        "api_calls",
        "credit",
        12.0,
        "hourly",
        datetime(2026, 6, 11, 9, tzinfo=UTC),
        datetime(2026, 6, 11, 9, 30, 1, 5, tzinfo=UTC),
        '{"a":"300","b":200,"c":{"d":[null]}}',
    )
    assert event_from_row(row) == {
        "event_id": "0b6f1a6e-0000-4000-8000-000000000000",
        "customer_id": "cust",
        "external_customer_id": "ext",
        "event_code": "api_calls",
        "event_type": "credit",
        "value": 12,
        "granularity": "hourly",
        "period_start": "2026-06-11T09:00:00Z",
        "created_at": "2026-06-11T09:30:01.000005Z",
        "event_properties": {"a": "300", "b": 200, "c": {"d": [None]}},
    }
