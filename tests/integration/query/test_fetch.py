"""GET /v1/events/{event_id} against the real ClickHouse (docs/api.md)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from core.names import USAGE_EVENTS_BY_CUSTOMER
from core.periods import Granularity
from tests.integration.query.conftest import Seeder, bearer

pytestmark = pytest.mark.clickhouse

UNAUTHORIZED = {"success": False, "error": "Invalid or missing API key", "code": "UNAUTHORIZED"}
NOT_FOUND = {"success": False, "error": "Event not found", "code": "NOT_FOUND"}
AT = datetime(2026, 6, 11, 9, 30, tzinfo=UTC)


def test_fetch_returns_the_documented_shape(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    props = {
        "region": "us-west-1",
        "status_code": 200,
        "code": "300",
        "nested": {"b": [1, 2.5, None], "a": True},
    }
    event_id = seeder.event(
        "org-a", "pied-piper", "api_calls", AT, 300.0, external_id="0015g00000ABC", properties=props
    )

    response = api.get(f"/v1/events/{event_id}", headers=bearer(key))

    assert response.status_code == 200
    assert response.json() == {
        "event_id": event_id,
        "customer_id": "pied-piper",
        "external_customer_id": "0015g00000ABC",
        "event_code": "api_calls",
        "event_type": "credit",
        "value": 300,
        "granularity": "daily",
        "period_start": "2026-06-11T00:00:00Z",
        "created_at": "2026-06-11T09:30:00Z",
        "event_properties": props,
    }
    assert '"value":300,' in response.text  # an integral float prints as an integer


def test_fractional_values_microseconds_and_granularities(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    moment = datetime(2026, 6, 11, 9, 30, 5, 123456, tzinfo=UTC)
    event_id = seeder.event(
        "org-a", "c1", "gb", moment, 2.5, granularity=Granularity.MONTHLY, event_type="debit"
    )

    body = api.get(f"/v1/events/{event_id}", headers=bearer(key)).json()

    assert body["value"] == 2.5
    assert body["created_at"] == "2026-06-11T09:30:05.123456Z"
    assert body["period_start"] == "2026-06-01T00:00:00Z"
    assert body["granularity"] == "monthly"
    assert body["event_type"] == "debit"
    assert body["event_properties"] == {}


def test_replaced_value_before_merge_shows_only_the_newest(api: TestClient, seeder: Seeder) -> None:
    key = seeder.api_key("org-a")
    first = seeder.event("org-a", "c1", "api_calls", AT, 100.0, properties={"v": 1})
    second = seeder.event("org-a", "c1", "api_calls", AT.replace(hour=12), 200.0, properties={"v": 2})
    third = seeder.event("org-a", "c1", "api_calls", AT.replace(hour=11), 150.0, properties={"v": 3})
    assert first == second == third
    assert seeder.parts() >= 3  # three unmerged versions
    assert seeder.parts(USAGE_EVENTS_BY_CUSTOMER) >= 3  # (fetch reads this copy)

    body = api.get(f"/v1/events/{first}", headers=bearer(key)).json()

    assert body["value"] == 150
    assert body["event_properties"] == {"v": 3}
    assert body["created_at"] == "2026-06-11T11:30:00Z"


def test_unknown_malformed_and_foreign_ids_are_404(api: TestClient, seeder: Seeder) -> None:
    key_a = seeder.api_key("org-a")
    key_b = seeder.api_key("org-b")
    foreign = seeder.event("org-b", "c1", "api_calls", AT)

    for event_id in (foreign, str(uuid.uuid4()), "not-a-uuid", "'; DROP TABLE usage_events; --"):
        response = api.get(f"/v1/events/{event_id}", headers=bearer(key_a))
        assert response.status_code == 404, event_id
        assert response.json() == NOT_FOUND
    assert api.get(f"/v1/events/{foreign}", headers=bearer(key_b)).status_code == 200
    # An uppercase UUID is the same ID.
    assert api.get(f"/v1/events/{foreign.upper()}", headers=bearer(key_b)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer qvk_unknown_key_1234567890"},
        {"Authorization": "Bearer ' OR 1=1 --"},
    ],
)
def test_missing_malformed_or_unknown_key_is_401(
    api: TestClient, seeder: Seeder, headers: dict[str, str]
) -> None:
    seeder.api_key("org-a")
    event_id = seeder.event("org-a", "c1", "api_calls", AT)

    response = api.get(f"/v1/events/{event_id}", headers=headers)

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_rotated_key_stops_working_within_the_cache_time(api: TestClient, seeder: Seeder) -> None:
    old_key = seeder.api_key("org-a")
    event_id = seeder.event("org-a", "c1", "api_calls", AT)
    assert api.get(f"/v1/events/{event_id}", headers=bearer(old_key)).status_code == 200

    new_key = seeder.api_key("org-a")  # a higher version, in its own unmerged part
    time.sleep(0.6)  # the test app caches lookups for 0.5 s

    assert api.get(f"/v1/events/{event_id}", headers=bearer(old_key)).json() == UNAUTHORIZED
    assert api.get(f"/v1/events/{event_id}", headers=bearer(new_key)).status_code == 200


def test_unknown_route_uses_the_error_shape(api: TestClient, seeder: Seeder) -> None:
    response = api.get("/v1/nope")
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response.json()["code"] == "NOT_FOUND"
