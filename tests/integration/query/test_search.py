"""POST /v1/events/search against the real ClickHouse (docs/api.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.names import USAGE_EVENTS_BY_CUSTOMER, USAGE_EVENTS_BY_PERIOD
from core.periods import Granularity
from tests.integration.query.conftest import COUNTING_MODES, Seeder, bearer

pytestmark = pytest.mark.clickhouse

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def search(api: TestClient, key: str, body: Any) -> dict[str, Any]:
    response = api.post("/v1/events/search", headers=bearer(key), json=body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


def ids(payload: dict[str, Any]) -> list[str]:
    return [event["event_id"] for event in payload["events"]]


@pytest.fixture
def org(seeder: Seeder) -> tuple[str, dict[str, str]]:
    """org-a with a small mixed data set; returns (key, name -> event_id). org-b holds look-alikes."""
    key = seeder.api_key("org-a")
    seeder.api_key("org-b")
    seeder.external_id("org-a", "SF-1", "acme")
    seeder.external_id("org-a", "HS-9", "acme")
    seeder.external_id("org-a", "SF-2", "globex")
    seeder.external_id("org-a", "SF-OLD", "globex", deleted=False)
    seeder.external_id("org-a", "SF-OLD", "globex", deleted=True)
    seeder.external_id("org-b", "SF-B", "acme")
    e = {
        "acme_calls_d1": seeder.event(
            "org-a", "acme", "api_calls", T0, 5, properties={"status": 200, "r": "eu"}
        ),
        "acme_calls_d2": seeder.event(
            "org-a", "acme", "api_calls", T0 + timedelta(days=1), 7, properties={"status": "200", "r": "eu"}
        ),
        "acme_gb_d1": seeder.event("org-a", "acme", "storage_gb", T0, 1.5, event_type="debit"),
        "globex_calls_d1": seeder.event(
            "org-a",
            "globex",
            "api_calls",
            T0 + timedelta(hours=1),
            3,
            properties={"status": 200.0, "ok": True},
        ),
        "globex_calls_h": seeder.event(
            "org-a",
            "globex",
            "api_calls",
            T0 + timedelta(hours=2),
            4,
            granularity=Granularity.HOURLY,
            properties={"ok": None, "tags": {"b": [1, "x"], "a": 1}},
        ),
    }
    seeder.event("org-b", "acme", "api_calls", T0, 99, properties={"status": 200})
    seeder.event("org-b", "acme", "storage_gb", T0, 99)
    return key, e


def test_no_filter_lists_own_org_in_order_with_total(
    api: TestClient, org: tuple[str, dict[str, str]]
) -> None:
    key, e = org
    payload = search(api, key, {})
    assert payload["total"] == 5
    assert payload["limit"] == 50 and payload["offset"] == 0
    created = [(ev["created_at"], ev["event_id"]) for ev in payload["events"]]
    assert created == sorted(created)
    assert set(ids(payload)) == set(e.values())
    assert all(ev["value"] != 99 for ev in payload["events"])
    assert search(api, key, None)["total"] == 5  # no body at all: every field defaulted


@pytest.mark.parametrize("api", list(COUNTING_MODES), indirect=True)
def test_each_filter(api: TestClient, org: tuple[str, dict[str, str]]) -> None:
    key, e = org
    assert set(ids(search(api, key, {"customer_id": "acme"}))) == {
        e["acme_calls_d1"],
        e["acme_calls_d2"],
        e["acme_gb_d1"],
    }
    assert set(ids(search(api, key, {"external_customer_id": "HS-9"}))) == {
        e["acme_calls_d1"],
        e["acme_calls_d2"],
        e["acme_gb_d1"],
    }
    assert search(api, key, {"external_customer_id": "SF-2"})["total"] == 2
    assert search(api, key, {"event_code": "storage_gb"})["events"][0]["event_id"] == e["acme_gb_d1"]
    assert ids(search(api, key, {"event_type": "debit"})) == [e["acme_gb_d1"]]
    assert search(api, key, {"event_type": "credit"})["total"] == 4
    window = {"created_at_from": "2026-06-01T09:00:00Z", "created_at_to": "2026-06-01T10:00:00Z"}
    assert ids(search(api, key, window)) == [
        e["globex_calls_d1"],
        e["globex_calls_h"],
    ]  # both bounds inclusive
    assert search(api, key, {"created_at_from": "2026-06-01T10:00:00.000001Z"})["total"] == 1
    assert search(api, key, {"created_at_to": "2026-06-01T08:00:00+00:00"})["total"] == 2
    assert search(api, key, {"created_at_to": "2026-06-01T10:00:00+02:00"})["total"] == 2  # 08:00 UTC


def test_unknown_or_removed_or_foreign_external_id_is_an_empty_result(
    api: TestClient, org: tuple[str, dict[str, str]]
) -> None:
    key, _ = org
    for external_id in ("nope", "SF-OLD", "SF-B", "' OR 1=1 --"):
        payload = search(api, key, {"external_customer_id": external_id})
        assert payload == {"events": [], "total": 0, "limit": 50, "offset": 0}, external_id


def test_filters_combine(api: TestClient, org: tuple[str, dict[str, str]]) -> None:
    key, e = org
    body = {
        "external_customer_id": "SF-1",
        "customer_id": "acme",
        "event_code": "api_calls",
        "event_type": "credit",
        "created_at_from": "2026-06-01T00:00:00Z",
        "created_at_to": "2026-06-03T00:00:00Z",
        "event_property_filters": {"r": "eu", "status": 200},
    }
    assert ids(search(api, key, body)) == [e["acme_calls_d1"]]
    assert search(api, key, {**body, "customer_id": "globex"})["total"] == 0  # external ID names acme
    assert search(api, key, {**body, "event_type": "debit"})["total"] == 0


@pytest.mark.parametrize("api", list(COUNTING_MODES), indirect=True)
def test_property_filters_are_typed(api: TestClient, org: tuple[str, dict[str, str]]) -> None:
    key, e = org

    def matching(filters: dict[str, Any]) -> set[str]:
        return set(ids(search(api, key, {"event_property_filters": filters})))

    assert matching({"status": 200}) == {e["acme_calls_d1"], e["globex_calls_d1"]}  # 200 and 200.0
    assert matching({"status": 200.0}) == {e["acme_calls_d1"], e["globex_calls_d1"]}
    assert matching({"status": "200"}) == {e["acme_calls_d2"]}
    assert matching({"ok": True}) == {e["globex_calls_d1"]}
    assert matching({"ok": "true"}) == set()
    assert matching({"ok": None}) == {e["globex_calls_h"]}  # null matches a null, not a missing key
    assert matching({"tags": {"a": 1, "b": [1, "x"]}}) == {e["globex_calls_h"]}  # key order irrelevant
    assert matching({"tags": {"a": 1, "b": [1, "x"], "c": 2}}) == set()
    assert matching({"tags": {"a": 1}}) == set()
    assert matching({"missing": None}) == set()
    assert matching({}) == set(e.values())


@pytest.mark.parametrize("api", list(COUNTING_MODES), indirect=True)
def test_pagination_is_stable_and_total_exact(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    same_time = T0
    expected = sorted(
        [seeder.event("org-a", f"c{i:02d}", "m", same_time, i) for i in range(12)]
        + [seeder.event("org-a", f"early{i}", "m", same_time - timedelta(hours=i + 1), i) for i in range(3)]
    )
    seen: list[str] = []
    for offset in range(0, 15, 4):
        page = search(api, key, {"limit": 4, "offset": offset})
        assert page["total"] == 15
        assert page["limit"] == 4 and page["offset"] == offset
        seen.extend(ids(page))
    assert sorted(seen) == expected and len(set(seen)) == 15
    # ties on created_at are ordered by event_id
    tied = [
        ev for ev in search(api, key, {"limit": 100})["events"] if ev["created_at"] == "2026-06-01T08:00:00Z"
    ]
    assert [ev["event_id"] for ev in tied] == sorted(ev["event_id"] for ev in tied)
    assert seen == ids(search(api, key, {"limit": 100}))
    beyond = search(api, key, {"limit": 4, "offset": 100})
    assert beyond["events"] == [] and beyond["total"] == 15


@pytest.mark.parametrize("api", list(COUNTING_MODES), indirect=True)
def test_time_ranges_with_partial_days_page_and_count_exactly(api: TestClient, seeder: Seeder) -> None:
    """Whole days of a range are counted from profiles, its partial first and last days exactly:
    every bound (inclusive, to the microsecond) and every page agree with a plain filter."""
    key = seeder.api_key("org-a")
    events: list[tuple[datetime, str]] = []
    for day in range(4):  # May 31 to June 3, four values a day at 00:00, 06:00, 12:00 and 23:59:59.999999
        for moment in (
            timedelta(0),
            timedelta(hours=6),
            timedelta(hours=12),
            timedelta(days=1, microseconds=-1),
        ):
            created = datetime(2026, 5, 31, tzinfo=UTC) + timedelta(days=day) + moment
            events.append((created, seeder.event("org-a", f"c{day}{moment.seconds}", "m", created, 1)))
    weekly_created = datetime(2026, 6, 2, 6, tzinfo=UTC)  # a week starting on Monday June 1st
    weekly = seeder.event("org-a", "w", "m", weekly_created, 1, granularity=Granularity.WEEKLY)
    events.append((weekly_created, weekly))
    ordered = [event_id for _, event_id in sorted(events)]

    def expected(start: datetime, end: datetime) -> list[str]:
        return [event_id for created, event_id in sorted(events) if start <= created <= end]

    ranges = [
        (datetime(2026, 5, 31, 6, tzinfo=UTC), datetime(2026, 6, 2, 12, tzinfo=UTC)),
        (datetime(2026, 5, 31, 6, 0, 0, 1, tzinfo=UTC), datetime(2026, 6, 3, 23, 59, 59, 999998, tzinfo=UTC)),
        (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, 23, 59, 59, 999999, tzinfo=UTC)),
        (datetime(2026, 6, 2, 6, tzinfo=UTC), datetime(2026, 6, 2, 6, tzinfo=UTC)),
    ]
    for start, end in ranges:
        body = {"created_at_from": start.isoformat(), "created_at_to": end.isoformat(), "limit": 3}
        wanted = expected(start, end)
        seen: list[str] = []
        for offset in range(0, len(wanted) + 3, 3):
            page = search(api, key, {**body, "offset": offset})
            assert page["total"] == len(wanted), (start, end)
            seen += ids(page)
        assert seen == wanted, (start, end)
    since = search(api, key, {"created_at_from": "2026-06-02T06:00:00Z", "limit": 100})
    assert ids(since) == expected(weekly_created, datetime(2027, 1, 1, tzinfo=UTC))
    assert search(api, key, {"created_at_to": "2026-05-31T06:00:00Z"})["total"] == 2
    assert ids(search(api, key, {"limit": 100})) == ordered


def test_pages_across_months_match_the_whole_order(api: TestClient, seeder: Seeder) -> None:
    """Whole-organization searches page month by month (counts per month of created_at first)."""
    key = seeder.api_key("org-a")
    made: list[tuple[datetime, str]] = []
    for i, at in enumerate(
        [
            datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
            datetime(2026, 2, 28, 12, tzinfo=UTC),
            datetime(2026, 4, 2, tzinfo=UTC),
            datetime(2025, 12, 31, tzinfo=UTC),
        ]
    ):
        made.append(
            (at, seeder.event("org-a", f"c{i}", "m", at, i, event_type="debit" if i % 2 else "credit"))
        )
    # A week starting in February with a value in March, and a monthly value late in March.
    march = datetime(2026, 3, 1, 10, tzinfo=UTC)
    made.append((march, seeder.event("org-a", "w", "m", march, granularity=Granularity.WEEKLY)))
    late = datetime(2026, 3, 31, 23, tzinfo=UTC)
    made.append((late, seeder.event("org-a", "mo", "m", late, granularity=Granularity.MONTHLY)))
    expected = [event_id for _, event_id in sorted(made)]

    assert ids(search(api, key, {"limit": 100})) == expected
    for limit in (1, 2, 3):
        seen: list[str] = []
        for offset in range(0, len(expected), limit):
            page = search(api, key, {"limit": limit, "offset": offset})
            assert page["total"] == len(expected)
            seen.extend(ids(page))
        assert seen == expected, limit
    debit = search(api, key, {"event_type": "debit", "limit": 1, "offset": 1})
    assert debit["total"] == 3 and ids(debit) == [made[1][1]]  # debit: Dec 31, Feb 1, Feb 28
    since = search(api, key, {"created_at_from": "2026-02-01T00:00:00Z", "limit": 2, "offset": 2})
    assert since["total"] == 6 and ids(since) == expected[4:6]
    assert search(api, key, {"offset": 8})["events"] == [] and search(api, key, {"offset": 8})["total"] == 8


@pytest.mark.parametrize("api", list(COUNTING_MODES), indirect=True)
def test_replaced_values_never_show_twice_nor_old(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    first = seeder.event("org-a", "acme", "api_calls", T0, 1, properties={"s": "old"}, event_type="debit")
    seeder.event("org-a", "acme", "api_calls", T0 + timedelta(hours=3), 2, properties={"s": "new"})
    assert seeder.parts() >= 2 and seeder.parts(USAGE_EVENTS_BY_PERIOD) >= 2

    everything = search(api, key, {})
    assert everything["total"] == 1
    assert [(ev["event_id"], ev["value"]) for ev in everything["events"]] == [(first, 2)]
    # Filters on columns the replacement changed see only the current version.
    assert search(api, key, {"event_property_filters": {"s": "old"}})["total"] == 0
    assert search(api, key, {"event_property_filters": {"s": "new"}})["total"] == 1
    assert search(api, key, {"event_type": "debit"})["total"] == 0
    assert search(api, key, {"created_at_to": "2026-06-01T09:00:00Z"})["total"] == 0
    assert search(api, key, {"created_at_from": "2026-06-01T11:00:00Z"})["total"] == 1
    # The same through the customer-ordered copy (customer-scoped searches read it).
    assert seeder.parts(USAGE_EVENTS_BY_CUSTOMER) >= 2
    mine = search(api, key, {"customer_id": "acme"})
    assert mine["total"] == 1 and [(ev["event_id"], ev["value"]) for ev in mine["events"]] == [(first, 2)]
    assert search(api, key, {"customer_id": "acme", "event_property_filters": {"s": "old"}})["total"] == 0
    assert search(api, key, {"customer_id": "acme", "event_type": "debit"})["total"] == 0
    assert search(api, key, {"customer_id": "acme", "event_type": "credit"})["total"] == 1


@pytest.mark.parametrize(
    "filter_key",
    [
        "it's",
        'quo"te',
        "back\\slash",
        "\\'",
        "x') OR 1=1 --",
        "a}} {b:String}",
        "{pk0:String}",
        "'; DROP TABLE usage_events; --",
        "ключ-日本語-🙂",
        "",
        "k" * 1024,
        "tab\tnew\nline\x00nul",
    ],
)
def test_property_filter_keys_cannot_change_the_sql(api: TestClient, seeder: Seeder, filter_key: str) -> None:
    key = seeder.api_key("org-a")
    hit = seeder.event("org-a", "c1", "m", T0, 1, properties={filter_key: "v\\'\"", "other": 1})
    seeder.event("org-a", "c2", "m", T0, 2, properties={"other": 1})
    seeder.event("org-b", "c1", "m", T0, 3, properties={filter_key: "v\\'\""})

    assert ids(search(api, key, {"event_property_filters": {filter_key: "v\\'\""}})) == [hit]
    assert search(api, key, {"event_property_filters": {filter_key: "v"}})["total"] == 0
    assert search(api, key, {"event_property_filters": {filter_key: "x') OR 1=1 --"}})["total"] == 0
    if 0 < len(filter_key) <= 255:
        assert search(api, key, {"customer_id": filter_key})["total"] == 0
    assert search(api, key, {})["total"] == 2  # nothing was dropped


def test_cross_org_isolation_on_every_filter(api: TestClient, org: tuple[str, dict[str, str]]) -> None:
    key, _ = org
    payload = search(api, key, {"customer_id": "acme", "event_code": "storage_gb", "limit": 100})
    assert [ev["value"] for ev in payload["events"]] == [1.5]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"limit": 10.5}, "limit"),
        ({"limit": True}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "0"}, "offset"),
        ({"event_type": "refund"}, "event_type"),
        ({"created_at_from": "yesterday"}, "created_at_from"),
        ({"created_at_to": "2026-13-01T00:00:00Z"}, "created_at_to"),
        (
            {"created_at_from": "2026-06-02T00:00:00Z", "created_at_to": "2026-06-01T00:00:00Z"},
            "created_at_to",
        ),
        ({"customer_id": 5}, "customer_id"),
        ({"customer_id": ""}, "customer_id"),
        ({"external_customer_id": "x" * 256}, "external_customer_id"),
        ({"event_code": ["a"]}, "event_code"),
        ({"event_property_filters": ["a"]}, "event_property_filters"),
        ({"event_property_filters": "status=200"}, "event_property_filters"),
        ({"event_property_filters": {"k" * 1025: 1}}, "event_property_filters"),
        ({"event_property_filters": {"k": "v" * 4100}}, "event_property_filters"),
        ([1, 2], "body"),
        ("text", "body"),
    ],
)
def test_invalid_bodies_are_422_with_paths(api: TestClient, seeder: Seeder, body: Any, path: str) -> None:
    key = seeder.api_key("org-a")
    response = api.post("/v1/events/search", headers=bearer(key), json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["success"] is False and payload["code"] == "VALIDATION_ERROR"
    assert [d["path"] for d in payload["details"]] == [path]
    assert all(d["message"] for d in payload["details"])


def test_malformed_json_is_422_on_body_and_several_errors_are_listed(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    response = api.post(
        "/v1/events/search", headers={**bearer(key), "Content-Type": "application/json"}, content=b"{"
    )
    assert response.status_code == 422
    assert response.json()["details"] == [{"path": "body", "message": "body is not valid JSON"}]
    several = api.post("/v1/events/search", headers=bearer(key), json={"limit": 500, "offset": -5})
    assert [d["path"] for d in several.json()["details"]] == ["limit", "offset"]


def test_a_search_body_over_the_limit_is_413(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    too_big = b'{"event_code": "' + b"x" * (64 * 1024) + b'"}'
    response = api.post("/v1/events/search", headers=bearer(key), content=too_big)
    assert response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_search_needs_a_valid_key(api: TestClient, seeder: Seeder) -> None:
    seeder.api_key("org-a")
    response = api.post("/v1/events/search", json={})
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": "Invalid or missing API key",
        "code": "UNAUTHORIZED",
    }


def test_limit_and_empty_body_defaults(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    for i in range(3):
        seeder.event("org-a", f"c{i}", "m", T0, i)
    response = api.post("/v1/events/search", headers=bearer(key), content=b"")
    assert response.status_code == 200
    assert response.json()["total"] == 3
    page = search(api, key, {"limit": 1, "offset": 1, "unknown_field": "ignored", "customer_id": None})
    assert len(page["events"]) == 1 and page["total"] == 3


def test_time_range_finds_values_late_in_long_periods(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    late = datetime(2026, 7, 31, 23, 59, 59, 999999, tzinfo=UTC)
    monthly = seeder.event("org-a", "c1", "m", late, 1, granularity=Granularity.MONTHLY)
    weekly = seeder.event("org-a", "c1", "m", late, 2, granularity=Granularity.WEEKLY)
    seeder.event("org-a", "c1", "m", datetime(2026, 6, 30, tzinfo=UTC), 3, granularity=Granularity.MONTHLY)

    exact = {"created_at_from": "2026-07-31T23:59:59.999999Z", "created_at_to": "2026-07-31T23:59:59.999999Z"}
    assert set(ids(search(api, key, exact))) == {monthly, weekly}
    # A week starting in July holds values of August: found from August on (period pruning is exact).
    crossing = seeder.event(
        "org-a", "c2", "m", datetime(2026, 8, 2, 10, tzinfo=UTC), 4, granularity=Granularity.WEEKLY
    )
    hourly = seeder.event(
        "org-a", "c2", "m", datetime(2026, 8, 1, 0, 30, tzinfo=UTC), 5, granularity=Granularity.HOURLY
    )
    assert ids(search(api, key, {"created_at_from": "2026-08-01T00:00:00Z"})) == [hourly, crossing]
    assert ids(search(api, key, {"created_at_from": "2026-08-01T00:30:00.000001Z"})) == [crossing]
    assert search(api, key, {"created_at_to": "2026-06-30T00:00:00Z"})["total"] == 1


@pytest.mark.parametrize("api", list(COUNTING_MODES), indirect=True)
def test_whole_org_counts_follow_every_insert_and_merge(api: TestClient, seeder: Seeder) -> None:
    """Whole-organization counts are cached per partition; any change of a partition's parts (a new
    value, a replacement that stops matching, a merge) is seen by the very next search."""
    key = seeder.api_key("org-a")
    june, july = T0, T0 + timedelta(days=31)
    seeder.event("org-a", "acme", "calls", june, 1, properties={"r": "eu"})
    july_id = seeder.event("org-a", "acme", "calls", july, 1, properties={"r": "eu"})
    query = {"event_property_filters": {"r": "eu"}, "offset": 1}
    assert search(api, key, query)["total"] == 2
    assert search(api, key, query)["total"] == 2  # served from the cache: same answer

    seeder.event("org-a", "globex", "calls", july, 1, properties={"r": "eu"})  # new value in July
    page = search(api, key, query)
    assert page["total"] == 3
    seeder.event("org-a", "acme", "calls", july, 2, properties={"r": "us"})  # replaced, no longer eu
    page = search(api, key, query)
    assert page["total"] == 2 and july_id not in ids(search(api, key, {**query, "offset": 0}))
    seeder.optimize()  # merges change every part name; the counts stay right
    assert search(api, key, query)["total"] == 2
    assert search(api, key, {"offset": 3})["total"] == 3  # another filter set: counted on its own
    assert search(api, key, {**query, "event_type": "debit"})["total"] == 0
    assert search(api, key, {**query, "event_code": "calls"})["total"] == 2
    seeder.event("org-a", "initech", "calls", june, 1, properties={"r": "eu", "n": 1})  # a new text
    assert search(api, key, {"event_property_filters": {"r": "eu", "n": 1.0}, "offset": 1})["total"] == 1
    assert search(api, key, query)["total"] == 3
