"""Every admin API call of docs/api.md over HTTP, against a real ClickHouse."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from core.clickhouse import make_client
from core.settings import AdminSettings, ClickHouseSettings
from ingress.control.runtime import ControlPlane
from tests.integration.control.conftest import ADMIN_TOKEN, FAST, AdminHarness, build_app

pytestmark = pytest.mark.clickhouse

PIED_PIPER = {
    "customer_id": "pied-piper",
    "name": "Pied Piper",
    "external_ids": [{"source": "salesforce", "id": "0015g00000ABC"}, {"source": "hubspot", "id": "4711"}],
}


async def test_create_and_list_orgs(admin: AdminHarness) -> None:
    response = await admin.client.post("/admin/v1/orgs", json={"name": "Acme"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Acme" and body["org_id"]
    listed = (await admin.client.get("/admin/v1/orgs")).json()["orgs"]
    assert [(o["org_id"], o["name"]) for o in listed] == [(body["org_id"], "Acme")]


async def test_generate_key_resolves_and_rotation_revokes(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    first = await admin.client.post(f"/admin/v1/orgs/{org_id}/api-key")
    assert first.status_code == 201
    key1 = first.json()["api_key"]
    assert key1.startswith("qvk_")
    assert admin.plane.directory.org_for_api_key(key1) == org_id
    key2 = (await admin.client.post(f"/admin/v1/orgs/{org_id}/api-key")).json()["api_key"]
    assert key2 != key1
    assert admin.plane.directory.org_for_api_key(key2) == org_id
    assert admin.plane.directory.org_for_api_key(key1) is None
    stored = make_client(admin.plane.clickhouse).query("SELECT key_hash FROM api_keys").result_rows
    assert all(key1 not in row[0] and key2 not in row[0] for row in stored)


async def test_upsert_and_list_customers(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    response = await admin.client.put(f"/admin/v1/orgs/{org_id}/customers", json={"customers": [PIED_PIPER]})
    assert response.status_code == 200, response.text
    assert response.json()["upserted"] == 1
    customers = (await admin.client.get(f"/admin/v1/orgs/{org_id}/customers")).json()["customers"]
    assert len(customers) == 1
    assert customers[0]["customer_id"] == "pied-piper" and customers[0]["name"] == "Pied Piper"
    assert customers[0]["external_ids"] == [
        {"source": "hubspot", "id": "4711"},
        {"source": "salesforce", "id": "0015g00000ABC"},
    ]
    directory = admin.plane.directory
    assert directory.customer_for_external_id(org_id, "0015g00000ABC") == "pied-piper"
    assert directory.customer_for_external_id(org_id, "4711") == "pied-piper"

    # The given set replaces the customer's set.
    replaced = {**PIED_PIPER, "external_ids": [{"source": "stripe", "id": "cus_1"}]}
    assert (
        await admin.client.put(f"/admin/v1/orgs/{org_id}/customers", json={"customers": [replaced]})
    ).json()["external_ids_removed"] == 2
    customers = (await admin.client.get(f"/admin/v1/orgs/{org_id}/customers")).json()["customers"]
    assert customers[0]["external_ids"] == [{"source": "stripe", "id": "cus_1"}]
    assert directory.customer_for_external_id(org_id, "4711") is None
    assert directory.customer_for_external_id(org_id, "cus_1") == "pied-piper"


async def test_external_id_of_another_customer_is_a_409(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    await admin.client.put(f"/admin/v1/orgs/{org_id}/customers", json={"customers": [PIED_PIPER]})
    hooli = {"customer_id": "hooli", "name": "Hooli", "external_ids": [{"source": "hubspot", "id": "4711"}]}
    response = await admin.client.put(f"/admin/v1/orgs/{org_id}/customers", json={"customers": [hooli]})
    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False and body["code"] == "CONFLICT"
    assert body["details"] == [
        {"source": "hubspot", "id": "4711", "customer_id": "hooli", "used_by": "pied-piper"}
    ]
    customers = (await admin.client.get(f"/admin/v1/orgs/{org_id}/customers")).json()["customers"]
    assert [c["customer_id"] for c in customers] == ["pied-piper"]  # nothing of the refused call was written
    # Another organization may use the same external ID.
    other = await admin.create_org("Other")
    ok = await admin.client.put(f"/admin/v1/orgs/{other}/customers", json={"customers": [hooli]})
    assert ok.status_code == 200


async def test_remove_external_id(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    await admin.client.put(f"/admin/v1/orgs/{org_id}/customers", json={"customers": [PIED_PIPER]})
    path = f"/admin/v1/orgs/{org_id}/customers/pied-piper/external-ids/hubspot/4711"
    assert (await admin.client.delete(path)).status_code == 200
    assert admin.plane.directory.customer_for_external_id(org_id, "4711") is None
    assert (await admin.client.delete(path)).status_code == 404
    customers = (await admin.client.get(f"/admin/v1/orgs/{org_id}/customers")).json()["customers"]
    assert customers[0]["external_ids"] == [{"source": "salesforce", "id": "0015g00000ABC"}]


async def test_configuration_lifecycle(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    missing = await admin.client.get(f"/admin/v1/orgs/{org_id}/configuration")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    created = await admin.client.post(f"/admin/v1/orgs/{org_id}/configuration", json={"source": "push_api"})
    assert created.status_code == 201
    config = created.json()
    assert config["source"] == "push_api" and config["status"] == "draft"
    assert config["endpoint"] == "https://ingest.example.com/v1/usage/events"
    assert "$QUIVLY_API_KEY" in config["curl_example"]
    assert config["endpoint"] in config["curl_example"]
    assert config["metrics"] == []
    assert not admin.plane.directory.is_published(org_id)

    key = (await admin.client.post(f"/admin/v1/orgs/{org_id}/api-key")).json()["api_key"]
    shown = (await admin.client.get(f"/admin/v1/orgs/{org_id}/configuration")).json()
    assert key in shown["curl_example"] and shown["status"] == "draft"

    published = await admin.client.post(f"/admin/v1/orgs/{org_id}/configuration/publish")
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert admin.plane.directory.is_published(org_id)
    again = (await admin.client.get(f"/admin/v1/orgs/{org_id}/configuration")).json()
    assert again["status"] == "published"


async def test_metrics_discovery_and_rollup(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    await admin.client.post(f"/admin/v1/orgs/{org_id}/configuration", json={"source": "push_api"})
    early, late = datetime(2026, 6, 11, 9, tzinfo=UTC), datetime(2026, 6, 12, 10, tzinfo=UTC)
    admin.plane.discovery.saw(org_id, ["api_calls", "seats"], late)
    admin.plane.discovery.saw(org_id, ["api_calls"], early)
    metrics: list[dict[str, str]] = []
    for _ in range(50):
        metrics = (await admin.client.get(f"/admin/v1/orgs/{org_id}/metrics")).json()["metrics"]
        if len(metrics) == 2:
            break
        await asyncio.sleep(0.1)
    assert metrics == [
        {
            "metric_key": "api_calls",
            "rollup": "sum",
            "first_seen_at": "2026-06-11T09:00:00.000Z",
            "last_seen_at": "2026-06-12T10:00:00.000Z",
        },
        {
            "metric_key": "seats",
            "rollup": "sum",
            "first_seen_at": "2026-06-12T10:00:00.000Z",
            "last_seen_at": "2026-06-12T10:00:00.000Z",
        },
    ]
    patched = await admin.client.patch(f"/admin/v1/orgs/{org_id}/metrics/seats", json={"rollup": "max"})
    assert patched.status_code == 200 and patched.json()["rollup"] == "max"
    assert patched.json()["metric_key"] == "seats"
    config = (await admin.client.get(f"/admin/v1/orgs/{org_id}/configuration")).json()
    assert {m["metric_key"]: m["rollup"] for m in config["metrics"]} == {"api_calls": "sum", "seats": "max"}
    bad = await admin.client.patch(f"/admin/v1/orgs/{org_id}/metrics/seats", json={"rollup": "median"})
    assert bad.status_code == 422 and bad.json()["details"][0]["path"] == "rollup"
    unknown = await admin.client.patch(f"/admin/v1/orgs/{org_id}/metrics/nope", json={"rollup": "max"})
    assert unknown.status_code == 404
    view = make_client(admin.plane.clickhouse).query(
        "SELECT metric_key, rollup FROM metrics WHERE org_id = {o:String} ORDER BY metric_key",
        parameters={"o": org_id},
    )
    assert view.result_rows == [("api_calls", "sum"), ("seats", "max")]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/v1/orgs"),
        ("GET", "/admin/v1/orgs"),
        ("POST", "/admin/v1/orgs/x/api-key"),
        ("PUT", "/admin/v1/orgs/x/customers"),
        ("GET", "/admin/v1/orgs/x/customers"),
        ("DELETE", "/admin/v1/orgs/x/customers/c/external-ids/s/e"),
        ("POST", "/admin/v1/orgs/x/configuration"),
        ("GET", "/admin/v1/orgs/x/configuration"),
        ("POST", "/admin/v1/orgs/x/configuration/publish"),
        ("GET", "/admin/v1/orgs/x/metrics"),
        ("PATCH", "/admin/v1/orgs/x/metrics/m"),
    ],
)
async def test_every_route_needs_the_admin_token(admin: AdminHarness, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}):
        response = await admin.client.request(method, path, headers={"Authorization": "", **headers})
        assert response.status_code == 401, (headers, response.text)
        assert response.json() == {
            "success": False,
            "error": "Invalid or missing admin token",
            "code": "UNAUTHORIZED",
        }


async def test_org_key_never_opens_the_admin_api(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    key = (await admin.client.post(f"/admin/v1/orgs/{org_id}/api-key")).json()["api_key"]
    response = await admin.client.get("/admin/v1/orgs", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED"


async def test_empty_admin_token_opens_nothing(clickhouse_settings: ClickHouseSettings) -> None:
    plane = ControlPlane(clickhouse_settings, FAST)
    await plane.start()
    try:
        app = build_app(plane, AdminSettings(admin_token=""))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            for auth in ("Bearer ", "Bearer", ""):
                response = await client.get("/admin/v1/orgs", headers={"Authorization": auth})
                assert response.status_code == 401
    finally:
        await plane.stop()


async def test_unknown_org_is_404_everywhere(admin: AdminHarness) -> None:
    for method, path, body in [
        ("POST", "/admin/v1/orgs/nope/api-key", None),
        ("PUT", "/admin/v1/orgs/nope/customers", {"customers": [PIED_PIPER]}),
        ("GET", "/admin/v1/orgs/nope/customers", None),
        ("POST", "/admin/v1/orgs/nope/configuration", {"source": "push_api"}),
        ("POST", "/admin/v1/orgs/nope/configuration/publish", None),
        ("GET", "/admin/v1/orgs/nope/metrics", None),
    ]:
        response = await admin.client.request(method, path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "NOT_FOUND"


async def test_bad_bodies_are_422_with_paths(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    bad_json = await admin.client.post(
        "/admin/v1/orgs", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422 and bad_json.json()["details"] == [
        {"path": "body", "message": "malformed JSON"}
    ]
    no_name = await admin.client.post("/admin/v1/orgs", json={})
    assert no_name.status_code == 422 and no_name.json()["details"][0]["path"] == "name"
    bad = {"customers": [{"customer_id": "", "external_ids": [{"source": "x", "id": 5}]}]}
    response = await admin.client.put(f"/admin/v1/orgs/{org_id}/customers", json=bad)
    assert response.status_code == 422 and response.json()["code"] == "VALIDATION_ERROR"
    assert [d["path"] for d in response.json()["details"]] == [
        "customers[0].customer_id",
        "customers[0].external_ids[0].id",
    ]
    wrong_source = await admin.client.post(f"/admin/v1/orgs/{org_id}/configuration", json={"source": "csv"})
    assert wrong_source.status_code == 422


async def test_bulk_upsert_of_twenty_thousand_customers(admin: AdminHarness) -> None:
    org_id = await admin.create_org()
    customers = [
        {
            "customer_id": f"c{i}",
            "name": f"Customer {i}",
            "external_ids": [{"source": "salesforce", "id": f"sf{i}"}],
        }
        for i in range(20_000)
    ]
    started = asyncio.get_running_loop().time()
    response = await admin.client.put(f"/admin/v1/orgs/{org_id}/customers", json={"customers": customers})
    elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 200 and response.json()["upserted"] == 20_000
    assert admin.plane.directory.customer_for_external_id(org_id, "sf19999") == "c19999"
    listed = (await admin.client.get(f"/admin/v1/orgs/{org_id}/customers")).json()["customers"]
    assert len(listed) == 20_000
    print(f"bulk upsert of 20000 customers: {elapsed:.2f} s")
    assert elapsed < 15
    timings = {}
    for name, step in (("incremental refresh", admin.plane.refresh), ("full reload", admin.plane.reload)):
        started = asyncio.get_running_loop().time()
        await asyncio.to_thread(step)
        timings[name] = asyncio.get_running_loop().time() - started
    print(", ".join(f"{name} with 20000 external IDs: {s * 1000:.0f} ms" for name, s in timings.items()))
    assert admin.plane.snapshot.customer_count() == 20_000
