from __future__ import annotations

from datetime import UTC, datetime

import orjson

from core.periods import Granularity, epoch_micros, format_utc, period_start
from core.records import ReplaceKey, UsageRecord
from ingress.push.report import PeriodCache, plan_push
from ingress.push.validation import validate_body

RECEIVED = datetime(2026, 6, 11, 9, 30, 15, 123000, tzinfo=UTC)
CUSTOMERS = {("org", "sf-1"): "pied-piper", ("org", "hs-1"): "pied-piper", ("org", "sf-2"): "hooli"}


def resolve(org_id: str, external_id: str) -> str | None:
    return CUSTOMERS.get((org_id, external_id))


def events(*items: dict[str, object]):  # type: ignore[no-untyped-def]
    return validate_body(orjson.dumps({"events": list(items)}))


def test_records_match_the_shared_record_format_and_key() -> None:
    [event] = events(
        {
            "external_customer_id": "sf-1",
            "metric_key": "api_calls",
            "value": 300,
            "timestamp": "2026-06-10T23:15:00-02:00",
            "granularity": "weekly",
            "properties": {"region": "us", "code": 200},
            "event_type": "debit",
        }
    )
    plan = plan_push("org", [event], resolve, live=True, received_at=RECEIVED)
    [(key, value)] = plan.records
    expected = UsageRecord(
        org_id="org",
        customer_id="pied-piper",
        external_customer_id="sf-1",
        metric_key="api_calls",
        granularity="weekly",
        period_start="2026-06-08T00:00:00Z",
        value=300.0,
        event_type="debit",
        created_at_us=epoch_micros(datetime(2026, 6, 11, 1, 15, tzinfo=UTC)),
        ingested_at_us=epoch_micros(RECEIVED),
        properties='{"code":200,"region":"us"}',
    )
    assert value == expected.to_bytes()
    assert UsageRecord.from_bytes(value) == expected
    assert key == expected.key.to_bytes()
    assert plan.results[0]["event_id"] == expected.event_id
    assert plan.results[0]["written"] is True


def test_external_ids_of_one_customer_share_the_event_id() -> None:
    plan = plan_push(
        "org",
        events(
            {"external_customer_id": "sf-1", "metric_key": "m", "value": 1},
            {"external_customer_id": "hs-1", "metric_key": "m", "value": 2},
        ),
        resolve,
        live=True,
        received_at=RECEIVED,
    )
    assert plan.results[0]["event_id"] == plan.results[1]["event_id"]
    assert plan.records[0][0] == plan.records[1][0]
    assert [orjson.loads(v)["value"] for _, v in plan.records] == [1.0, 2.0]  # request order kept


def test_unmatched_events_are_reported_and_not_written() -> None:
    plan = plan_push(
        "org",
        events(
            {"external_customer_id": "nope", "metric_key": "m", "value": 1},
            {"external_customer_id": "sf-2", "metric_key": "m", "value": 1},
        ),
        resolve,
        live=True,
        received_at=RECEIVED,
    )
    body = plan.response(stored=True)
    assert body["summary"] == {"total": 2, "matched": 1, "unmatched": 1}
    assert body["inserted"] == 1 and body["stored"] is True and body["mode"] == "live"
    assert body["results"][0] == {
        "index": 0,
        "external_customer_id": "nope",
        "metric_key": "m",
        "matched": False,
        "written": False,
    }
    assert body["errors"] == [
        {
            "index": 0,
            "external_customer_id": "nope",
            "code": "UNKNOWN_CUSTOMER",
            "reason": "external_customer_id is not recognized for this organization",
        }
    ]
    assert plan.unmatched_external_ids == ["nope"]


def test_test_mode_writes_nothing() -> None:
    plan = plan_push(
        "org",
        events({"external_customer_id": "sf-1", "metric_key": "m", "value": 1}),
        resolve,
        False,
        RECEIVED,
    )
    body = plan.response(stored=True)
    assert plan.records == []
    assert (body["mode"], body["stored"], body["inserted"]) == ("test", False, 0)
    assert body["results"][0]["written"] is False and body["results"][0]["matched"] is True


def test_results_and_errors_hold_the_first_100() -> None:
    items = [{"external_customer_id": f"x{i}", "metric_key": "m", "value": i} for i in range(250)]
    plan = plan_push("org", events(*items), resolve, True, RECEIVED)
    assert len(plan.results) == 100 and len(plan.errors) == 100
    assert [r["index"] for r in plan.results] == list(range(100))
    assert plan.unmatched == 250 and len(plan.unmatched_external_ids) == 100


def test_period_cache_agrees_with_core_periods() -> None:
    cache = PeriodCache()
    for moment in [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 0, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 0, tzinfo=UTC),
        datetime(2026, 6, 14, 12, tzinfo=UTC),
    ]:
        for granularity in Granularity:
            assert cache.period_start(moment, granularity.value) == format_utc(
                period_start(moment, granularity)
            )


def test_default_timestamp_is_ingestion_time() -> None:
    plan = plan_push(
        "org",
        events({"external_customer_id": "sf-1", "metric_key": "m", "value": 1, "granularity": "hourly"}),
        resolve,
        True,
        RECEIVED,
    )
    record = UsageRecord.from_bytes(plan.records[0][1])
    assert record.created_at_us == epoch_micros(RECEIVED)
    assert record.period_start == "2026-06-11T09:00:00Z"
    assert ReplaceKey.from_bytes(plan.records[0][0]) == record.key
