"""What storage cannot hold is a 422 on the field's path, nothing produced; what it can hold (a
long monthly backfill, values at both ends of the accepted range) is accepted and produced."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from core.records import UsageRecord
from core.storage_bounds import TIMESTAMP_MAX, TIMESTAMP_MIN
from tests.integration.ingress.conftest import AUTH, consume_all

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]
URL = "/v1/usage/events"


def ev(**extra: Any) -> dict[str, Any]:
    return {"external_customer_id": "sf-1", "metric_key": "api_calls", "value": 1, **extra}


@pytest.mark.parametrize(
    ("event", "path"),
    [
        (ev(timestamp="2150-01-01T00:00:00Z"), "events[1].timestamp"),
        (ev(timestamp="1970-01-02T00:00:00Z", granularity="weekly"), "events[1].timestamp"),
        (ev(properties={"n": "2**64"}), "events[1].properties.n"),
    ],
)
async def test_what_storage_cannot_hold_is_refused_and_nothing_is_written(
    make_ingress, kafka_settings, event: dict[str, Any], path: str
) -> None:
    async with make_ingress() as ingress:
        response = await ingress.client.post(
            URL,
            content=orjson.dumps({"events": [ev(), event]}).replace(b'"2**64"', b"18446744073709551616"),
            headers=AUTH,
        )
    assert response.status_code == 422, response.text
    assert [d["path"] for d in response.json()["details"]] == [path]
    assert await consume_all(kafka_settings, expected=0, timeout_s=2) == []


async def test_a_101_month_backfill_and_both_ends_of_the_range_are_accepted(
    make_ingress, kafka_settings
) -> None:
    months = [f"{2018 + m // 12:04d}-{m % 12 + 1:02d}-15T12:00:00Z" for m in range(101)]
    events = [ev(timestamp=month, granularity="monthly", value=index) for index, month in enumerate(months)]
    ends = [TIMESTAMP_MIN["weekly"], TIMESTAMP_MAX]
    events += [ev(timestamp=moment.isoformat(), granularity="weekly", metric_key="edge") for moment in ends]
    async with make_ingress() as ingress:
        response = await ingress.client.post(URL, json={"events": events}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 103
    records = [UsageRecord.from_bytes(r.value) for r in await consume_all(kafka_settings, expected=103)]
    assert len({r.period_start for r in records if r.granularity == "monthly"}) == 101
    assert sorted(r.period_start for r in records if r.metric_key == "edge") == [
        "1970-01-05T00:00:00Z",
        "2106-02-01T00:00:00Z",
    ]
