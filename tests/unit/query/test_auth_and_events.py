from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.api_keys import hash_api_key
from core.storage_bounds import json_number
from query.auth import KeyResolver, bearer_key
from query.events import event_from_row


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


def test_resolver_answers_from_an_index_reloaded_at_most_once_per_ttl() -> None:
    loads: list[float] = []
    owners = {hash_api_key("k1"): "org-1"}
    clock = Clock()

    def load_index() -> dict[str, str]:
        loads.append(clock.now)
        return dict(owners)

    resolver = KeyResolver(load_index, ttl_s=2.0, clock=clock)
    assert resolver.cached("k1") == (False, None) and loads == []
    assert resolver.org_for_key("k1") == "org-1"
    owners.clear()  # the key is rotated away
    clock.now = 1.9
    assert resolver.cached("k1") == (True, "org-1")
    assert resolver.org_for_key("k1") == "org-1" and len(loads) == 1
    clock.now = 2.1
    assert resolver.cached("k1") == (False, None)
    assert resolver.org_for_key("k1") is None and len(loads) == 2


def test_a_flood_of_unknown_keys_costs_one_load_per_ttl() -> None:
    loads: list[int] = []
    clock = Clock()
    resolver = KeyResolver(lambda: loads.append(1) or {hash_api_key("k1"): "org-1"}, ttl_s=2.0, clock=clock)
    for index in range(10_000):
        hit, org_id = resolver.cached(f"qvk_random_{index}")
        if not hit:
            org_id = resolver.org_for_key(f"qvk_random_{index}")
        assert org_id is None
    assert len(loads) == 1
    assert resolver.cached("k1") == (True, "org-1")


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
