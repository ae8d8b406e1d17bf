"""Idempotency-Key against the real broker and ClickHouse: replay, reuse, in flight, restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.ingress.conftest import AUTH, consume_all

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]
URL = "/v1/usage/events"
BODY = {"events": [{"external_customer_id": "sf-1", "metric_key": "api_calls", "value": 3}]}


def keyed(key: str) -> dict[str, str]:
    return {**AUTH, "Idempotency-Key": key}


async def test_replay_and_reuse(make_ingress, kafka_settings) -> None:
    async with make_ingress() as ingress:
        first = await ingress.client.post(URL, json=BODY, headers=keyed("abc-1"))
        replay = await ingress.client.post(URL, json=BODY, headers=keyed("abc-1"))
        other_dry_run = await ingress.client.post(URL + "?dry_run=true", json=BODY, headers=keyed("abc-1"))
        other_body = await ingress.client.post(
            URL, json={"events": [{**BODY["events"][0], "value": 4}]}, headers=keyed("abc-1")
        )
        bad_key = await ingress.client.post(URL, json=BODY, headers={**AUTH, "Idempotency-Key": "x" * 256})
    assert first.status_code == 200 and "Idempotency-Replayed" not in first.headers
    assert replay.status_code == 200 and replay.headers["Idempotency-Replayed"] == "true"
    assert replay.content == first.content
    for response in (other_dry_run, other_body):
        assert response.status_code == 422 and response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert bad_key.status_code == 422 and bad_key.json()["details"][0]["path"] == "headers.Idempotency-Key"
    assert len(await consume_all(kafka_settings, 2, timeout_s=3)) == 1  # the replay produced nothing


async def test_422_answers_are_stored_too(make_ingress) -> None:
    async with make_ingress() as ingress:
        invalid = {"events": []}
        first = await ingress.client.post(URL, json=invalid, headers=keyed("bad"))
        again = await ingress.client.post(URL, json=invalid, headers=keyed("bad"))
    assert first.status_code == again.status_code == 422
    assert again.headers["Idempotency-Replayed"] == "true" and again.content == first.content


async def test_in_flight_key_is_409(make_ingress) -> None:
    async with make_ingress() as ingress:
        event_log = ingress.app.state.event_log
        real_write = event_log.write
        gate = asyncio.Event()

        async def slow_write(records: Any) -> None:
            await gate.wait()
            await real_write(records)

        event_log.write = slow_write
        first = asyncio.create_task(ingress.client.post(URL, json=BODY, headers=keyed("busy")))
        await asyncio.sleep(0.3)
        second = await ingress.client.post(URL, json=BODY, headers=keyed("busy"))
        gate.set()
        done = await first
    assert second.status_code == 409 and second.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert done.status_code == 200


async def test_stored_response_survives_a_restart(make_ingress, kafka_settings) -> None:
    async with make_ingress() as ingress:
        first = await ingress.client.post(URL, json=BODY, headers=keyed("restart-key"))
    async with make_ingress() as restarted:  # a new process / another replica: empty local cache
        replay = await restarted.client.post(URL, json=BODY, headers=keyed("restart-key"))
        reused = await restarted.client.post(URL + "?dry_run=1", json=BODY, headers=keyed("restart-key"))
    assert first.status_code == 200
    assert replay.status_code == 200 and replay.headers["Idempotency-Replayed"] == "true"
    assert replay.content == first.content
    assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(await consume_all(kafka_settings, 2, timeout_s=3)) == 1
