"""Every value storage holds reads back (issue: one value broke an organization's reads): values
beyond 64-bit integers, properties at the accepted depth and integer range, stored timestamps at
both ends of the accepted range, and searches naming moments beyond what any column holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from core.periods import Granularity
from core.storage_bounds import (
    PROPERTIES_MAX_DEPTH,
    PROPERTY_INT_MAX,
    PROPERTY_INT_MIN,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
)
from tests.integration.query.conftest import Seeder, bearer

pytestmark = pytest.mark.clickhouse

AT = datetime(2026, 6, 11, 9, 30, tzinfo=UTC)
WHOLE_ORG_RANGE = {"created_at_from": "2026-01-01T00:00:00Z", "created_at_to": "2026-12-31T00:00:00Z"}


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": [PROPERTY_INT_MAX, PROPERTY_INT_MIN, 2**53 + 1, 1e20]}
    for _ in range(depth - 2):
        node = {"a": node}
    return {"deep": node}


@pytest.mark.parametrize("value", [1e20, -1e20, 2.0**64, 1.7976931348623157e308, 5e-324, 2.0**63])
def test_values_beyond_64_bit_integers_read_back(api: TestClient, seeder: Seeder, value: float) -> None:
    key = seeder.api_key("org-a")
    event_id = seeder.event("org-a", "c1", "tokens", AT, value)
    fetched = api.get(f"/v1/events/{event_id}", headers=bearer(key))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["value"] == value
    for body in ({}, WHOLE_ORG_RANGE, {"customer_id": "c1"}):
        found = api.post("/v1/events/search", headers=bearer(key), content=orjson.dumps(body))
        assert found.status_code == 200, found.text
        assert [e["value"] for e in found.json()["events"]] == [value]


def test_properties_at_the_accepted_depth_and_integer_range_read_back(
    api: TestClient, seeder: Seeder
) -> None:
    key = seeder.api_key("org-a")
    props = _nested(PROPERTIES_MAX_DEPTH)
    event_id = seeder.event("org-a", "c1", "tokens", AT, 1.0, properties=props)
    fetched = api.get(f"/v1/events/{event_id}", headers=bearer(key))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["event_properties"] == props
    for body in ({}, WHOLE_ORG_RANGE, {"customer_id": "c1"}, {"event_property_filters": props}):
        found = api.post("/v1/events/search", headers=bearer(key), content=orjson.dumps(body))
        assert found.status_code == 200, found.text
        assert [e["event_properties"] for e in found.json()["events"]] == [props]


def test_rows_deeper_than_json_encoders_go_still_read_back(api: TestClient, seeder: Seeder) -> None:
    """Written before ingress bounded the depth: the answer falls back to the standard library."""
    key = seeder.api_key("org-a")
    props = _nested(252)
    event_id = seeder.event("org-a", "c1", "tokens", AT, 1.0, properties=props)
    fetched = api.get(f"/v1/events/{event_id}", headers=bearer(key))
    assert fetched.status_code == 200 and fetched.json()["event_properties"] == props
    found = api.post("/v1/events/search", headers=bearer(key), content=b"{}")
    assert found.status_code == 200 and found.json()["events"][0]["event_properties"] == props


@pytest.mark.parametrize("granularity", list(Granularity))
def test_both_ends_of_the_accepted_range_read_back(
    api: TestClient, seeder: Seeder, granularity: Granularity
) -> None:
    key = seeder.api_key("org-a")
    ids = {
        seeder.event("org-a", "c1", f"m-{moment.year}", moment, 1.0, granularity=granularity): moment
        for moment in (TIMESTAMP_MIN[granularity.value], TIMESTAMP_MAX)
    }
    for event_id, moment in ids.items():
        fetched = api.get(f"/v1/events/{event_id}", headers=bearer(key))
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["created_at"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    searches = [
        {},
        {"created_at_from": "0001-01-02T00:00:00Z", "created_at_to": "9999-12-31T23:59:59Z"},
        {"created_at_from": "1900-01-01T00:00:00Z"},
        {"created_at_to": "2299-12-31T23:59:59.999999Z"},
    ]
    for body in searches:
        found = api.post("/v1/events/search", headers=bearer(key), content=orjson.dumps(body))
        assert found.status_code == 200, (body, found.text)
        assert sorted(e["event_id"] for e in found.json()["events"]) == sorted(ids), body
    beyond = {"created_at_from": "2200-01-01T00:00:00Z", "created_at_to": "9999-12-31T23:59:59Z"}
    found = api.post("/v1/events/search", headers=bearer(key), content=orjson.dumps(beyond))
    assert found.status_code == 200 and found.json()["events"] == []


def test_a_search_from_beyond_year_9999_is_a_validation_error(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    body = {"created_at_from": "9999-12-31T23:59:59-23:59"}
    answer = api.post("/v1/events/search", headers=bearer(key), content=orjson.dumps(body))
    assert answer.status_code == 422, answer.text
    assert [d["path"] for d in answer.json()["details"]] == ["created_at_from"]
