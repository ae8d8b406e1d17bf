"""POST /v1/usage/events against the real broker and ClickHouse (control plane faked in memory)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from core.records import ReplaceKey, UsageRecord
from core.settings import KafkaSettings
from infra.processes import free_port
from tests.integration.ingress.conftest import ADMIN_TOKEN, AUTH, OTHER_KEY, consume_all

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]
URL = "/v1/usage/events"


def ev(external_id: str = "sf-1", value: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"external_customer_id": external_id, "metric_key": "api_calls", "value": value, **extra}


async def test_live_push_produces_one_keyed_record_per_event_in_order(make_ingress, kafka_settings) -> None:
    events = [
        ev("sf-1", 1, timestamp="2026-06-11T09:30:00Z"),
        ev("nope", 5),
        ev("hs-1", 2, timestamp="2026-06-11T23:00:00", properties={"region": "eu", "code": 200}),
        ev("sf-2", 7, granularity="monthly", event_type="debit"),
    ]
    async with make_ingress() as ingress:
        response = await ingress.client.post(URL, json={"events": events}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["mode"], body["stored"], body["inserted"]) == (True, "live", True, 3)
    assert body["summary"] == {"total": 4, "matched": 3, "unmatched": 1}
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert body["results"][0]["event_id"] == body["results"][2]["event_id"]  # same customer, same day
    assert body["results"][0]["period_start"] == "2026-06-11T00:00:00Z"
    assert body["errors"][0]["code"] == "UNKNOWN_CUSTOMER" and body["errors"][0]["index"] == 1
    assert ingress.discovery.seen == [("org-a", {"api_calls"})]

    records = await consume_all(kafka_settings, 3)
    assert len(records) == 3
    decoded = [UsageRecord.from_bytes(r.value) for r in records]
    for record, raw in zip(decoded, records, strict=True):
        assert ReplaceKey.from_bytes(raw.key) == record.key
        assert raw.partition == DefaultPartitioner()(raw.key, [0, 1, 2], [])  # Kafka's own choice
    same_key = [r for r in records if ReplaceKey.from_bytes(r.key).customer_id == "pied-piper"]
    assert len({r.partition for r in same_key}) == 1
    pied = sorted((r.offset, UsageRecord.from_bytes(r.value)) for r in same_key)
    assert [rec.value for _, rec in pied] == [1.0, 2.0]  # later event of the key is later in the log
    assert pied[1][1].properties == '{"code":200,"region":"eu"}'
    monthly = next(r for r in decoded if r.customer_id == "hooli")
    assert (monthly.granularity, monthly.event_type, monthly.org_id) == ("monthly", "debit", "org-a")
    assert monthly.event_id == body["results"][3]["event_id"]


async def test_verify_only_until_published_and_dry_run(make_ingress, kafka_settings) -> None:
    async with make_ingress() as ingress:
        ingress.directory.published.clear()
        draft = await ingress.client.post(URL, json={"events": [ev()]}, headers=AUTH)
        ingress.directory.published.add("org-a")
        dry = await ingress.client.post(URL + "?dry_run=true", json={"events": [ev(), ev("x")]}, headers=AUTH)
        nothing = await ingress.client.post(URL + "?dry_run=true", json={"events": [ev("x")]}, headers=AUTH)
    for response in (draft, dry, nothing):
        assert response.status_code == 200
        body = response.json()
        assert (body["mode"], body["stored"], body["inserted"]) == ("test", False, 0)
        assert all(r["written"] is False for r in body["results"])
    assert draft.json()["results"][0]["matched"] is True
    assert nothing.json()["summary"] == {"total": 1, "matched": 0, "unmatched": 1}
    assert len(ingress.discovery.seen) == 3  # verify-only calls still discover metrics
    assert await consume_all(kafka_settings, 0) == []


async def test_live_call_with_every_event_dropped_is_422(make_ingress, kafka_settings) -> None:
    async with make_ingress() as ingress:
        response = await ingress.client.post(URL, json={"events": [ev("x"), ev("y")]}, headers=AUTH)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "NO_EVENTS_INGESTED" and body["error"].startswith("No events could be ingested")
    assert body["details"]["mode"] == "live" and body["details"]["summary"]["unmatched"] == 2
    assert len(body["details"]["errors"]) == 2 and body["details"]["inserted"] == 0


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer qvk_unknown_000000000000000"}, {"Authorization": "Basic abc"}]
)
async def test_unauthorized(make_ingress, headers: dict[str, str]) -> None:
    async with make_ingress(wait_for_broker=False) as ingress:
        response = await ingress.client.post(URL, json={"events": [ev()]}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": "Invalid or missing API key",
        "code": "UNAUTHORIZED",
    }


async def test_organizations_are_isolated(make_ingress, kafka_settings) -> None:
    async with make_ingress() as ingress:
        ingress.directory.published.add("org-b")
        response = await ingress.client.post(
            URL, json={"events": [ev("sf-2"), ev("sf-1")]}, headers={"Authorization": f"Bearer {OTHER_KEY}"}
        )
    body = response.json()
    assert [r["matched"] for r in body["results"]] == [False, True]  # org-a's sf-2 is unknown to org-b
    [record] = await consume_all(kafka_settings, 1)
    assert UsageRecord.from_bytes(record.value).customer_id == "b-customer"


async def test_invalid_batch_writes_nothing(make_ingress, kafka_settings) -> None:
    async with make_ingress() as ingress:
        response = await ingress.client.post(
            URL, json={"events": [ev(), ev(), ev(), ev(value="3")]}, headers=AUTH
        )
        malformed = await ingress.client.post(URL, content=b'{"events": [', headers=AUTH)
        nan = await ingress.client.post(
            URL,
            content=b'{"events":[{"external_customer_id":"sf-1","metric_key":"m","value":NaN}]}',
            headers=AUTH,
        )
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == [
        {
            "path": "events[3].value",
            "message": "Must be a number (booleans and numeric strings are not numbers)",
        }
    ]
    assert malformed.json()["details"][0]["path"] == "body"
    assert nan.json()["details"][0]["path"] == "events[0].value"
    assert await consume_all(kafka_settings, 0) == []


async def test_body_limit(make_ingress) -> None:
    big_events = [ev(f"sf-{i % 2 + 1}", i, properties={"blob": "x" * 4080}) for i in range(1000)]
    raw = orjson.dumps({"events": big_events})
    assert len(raw) > 4_000_000
    async with make_ingress() as ingress:
        admitted = await ingress.client.post(URL + "?dry_run=true", content=raw, headers=AUTH)
    assert admitted.status_code == 200 and admitted.json()["summary"]["total"] == 1000
    async with make_ingress(max_body_bytes=2048, wait_for_broker=False) as small:
        rejected = await small.client.post(URL, content=raw[:10_000], headers=AUTH)
    assert rejected.status_code == 413 and rejected.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_rate_limit(make_ingress) -> None:
    async with make_ingress(rate_limit_per_minute=2, wait_for_broker=False) as ingress:
        statuses = [
            (await ingress.client.post(URL + "?dry_run=true", json={"events": [ev()]}, headers=AUTH))
            for _ in range(3)
        ]
        other = await ingress.client.post(
            URL + "?dry_run=true", json={"events": [ev()]}, headers={"Authorization": f"Bearer {OTHER_KEY}"}
        )
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].json() == {"success": False, "error": "Too many requests", "code": "RATE_LIMITED"}
    retry_after = statuses[2].headers["Retry-After"]
    assert retry_after.isdigit() and 55 <= int(retry_after) <= 60
    assert other.status_code == 200


async def test_unreachable_broker_is_503_and_claims_nothing(make_ingress, kafka_settings) -> None:
    closed = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}", usage_topic=kafka_settings.usage_topic
    )
    async with make_ingress(kafka=closed, wait_for_broker=False, produce_timeout_s=1.0) as ingress:
        response = await ingress.client.post(
            URL, json={"events": [ev()]}, headers={**AUTH, "Idempotency-Key": "k1"}
        )
        again = await ingress.client.post(
            URL, json={"events": [ev()]}, headers={**AUTH, "Idempotency-Key": "k1"}
        )
    assert response.status_code == 503
    assert response.json()["code"] == "UNAVAILABLE" and "stored" not in response.json()
    assert response.json()["details"] == {"outcome": "not_stored"}  # true: no record left ingress
    assert int(response.headers["Retry-After"]) >= 1
    assert again.status_code == 503 and "Idempotency-Replayed" not in again.headers  # nothing stored


async def test_broker_that_stops_answering_is_503_within_the_bound(make_ingress, kafka_settings) -> None:
    async with make_ingress(produce_timeout_s=1.0) as ingress:

        async def never(records: Any) -> None:
            await asyncio.sleep(30)

        ingress.app.state.event_log._send_all = lambda producer, records, attempt: never(records)
        started = asyncio.get_running_loop().time()
        response = await ingress.client.post(URL, json={"events": [ev()]}, headers=AUTH)
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 503 and elapsed < 3


async def test_push_call_log(make_ingress) -> None:
    async with make_ingress() as ingress:
        await ingress.client.post(URL, json={"events": [ev(), ev("ghost")]}, headers=AUTH)
        await ingress.client.post(URL + "?dry_run=true", json={"events": [ev("ghost2")]}, headers=AUTH)
        denied = await ingress.client.get("/admin/v1/orgs/org-a/push-calls")
        listed = await ingress.client.get(
            "/admin/v1/orgs/org-a/push-calls?limit=20", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        other = await ingress.client.get(
            "/admin/v1/orgs/org-b/push-calls", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
    assert denied.status_code == 401 and denied.json()["code"] == "UNAUTHORIZED"
    calls = listed.json()["push_calls"]
    assert [c["mode"] for c in calls] == ["test", "live"]  # newest first
    assert calls[1]["summary"] == {"total": 2, "matched": 1, "unmatched": 1}
    assert calls[1]["inserted"] == 1 and calls[1]["unmatched_external_ids"] == ["ghost"]
    assert calls[0]["unmatched_external_ids"] == ["ghost2"] and calls[0]["status_code"] == 200
    assert other.json() == {"push_calls": []}


async def test_openapi_describes_the_push_api(make_ingress) -> None:
    async with make_ingress(wait_for_broker=False) as ingress:
        schema = (await ingress.client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/usage/events"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PushRequest")
    events = schema["components"]["schemas"]["PushRequest"]["properties"]["events"]
    assert events["maxItems"] == 1000 and events["minItems"] == 1
    assert {"200", "401", "409", "413", "422", "429", "503"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} == {"dry_run", "Idempotency-Key"}
