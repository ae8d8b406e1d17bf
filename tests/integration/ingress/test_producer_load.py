"""Producing under load is back-pressure, never an error; a 503 is true or honest; a bug in the
produce path is not disguised as "retry later"."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from core.records import UsageRecord
from tests.integration.ingress.conftest import AUTH, consume_all

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]
URL = "/v1/usage/events"


def _batch(client: int, round_: int) -> dict[str, Any]:
    return {
        "events": [
            {
                "external_customer_id": ("sf-1", "sf-2", "hs-1")[i % 3],
                "metric_key": f"m{client}-{i % 50}",
                "value": round_ * 1000 + i,
                "timestamp": f"2026-06-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                "granularity": ("hourly", "daily", "weekly", "monthly")[i % 4],
                "properties": {"client": client, "round": round_, "padding": "x" * 200},
            }
            for i in range(1000)
        ]
    }


async def test_concurrent_large_pushes_all_succeed(make_ingress, kafka_settings) -> None:
    """8 clients x 6 rounds of 1000-event pushes at once: every one is acknowledged (aiokafka's
    own wait for a partition's slot used to give up after ~1 s of such contention: 503)."""
    clients, rounds = 8, 6
    async with make_ingress(produce_timeout_s=5.0) as ingress:

        async def client(number: int) -> list[int]:
            statuses = []
            for round_ in range(rounds):
                answer = await ingress.client.post(URL, json=_batch(number, round_), headers=AUTH, timeout=60)
                statuses.append(answer.status_code)
            return statuses

        results = await asyncio.gather(*(client(n) for n in range(clients)))
    assert [status for statuses in results for status in statuses] == [200] * clients * rounds
    records = await consume_all(kafka_settings, expected=clients * rounds * 1000, timeout_s=60)
    assert len(records) == clients * rounds * 1000
    last = {}
    for record in records:
        last[record.key] = UsageRecord.from_bytes(record.value).value
    # Within a client, rounds are sequential: the last round wins every key.
    assert all(value >= (rounds - 1) * 1000 for value in last.values())


async def test_a_bug_in_the_produce_path_is_a_clean_internal_error_not_a_retry(make_ingress) -> None:
    async with make_ingress() as ingress:

        def broken(key: bytes, count: int) -> int:
            raise ZeroDivisionError("a bug")

        ingress.app.state.event_log.partitioner.partition_for = broken
        transport = httpx.ASGITransport(app=ingress.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
            answer = await client.post(URL, json=_batch(0, 0), headers=AUTH)
    assert answer.status_code == 500
    assert answer.json() == {"success": False, "error": "Internal server error", "code": "INTERNAL_ERROR"}
    assert "Retry-After" not in answer.headers
