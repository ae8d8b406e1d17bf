"""``POST /v1/usage/query`` against the real pipeline: ingress (admin + push API) -> Kafka -> the
streams worker -> ClickHouse <- the query app.

Everything is written once per module (two organizations; the rule cases as records on the topic,
a few end-to-end pushes through ingress), with ClickHouse merges stopped and the replacements
written after the first values landed, so every read happens with replaced values not merged.
Expected numbers come from a small reference model of the rules (``expected_windows``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from core.clickhouse import make_client
from core.names import USAGE_EVENTS_BY_CUSTOMER, USAGE_EVENTS_BY_METRIC
from core.periods import format_utc
from core.records import UsageRecord, canonical_properties
from core.settings import AdminSettings, ClickHouseSettings, KafkaSettings
from core.usage_rollup import current_summaries
from infra.cli import app as cli_app
from infra.migrate import apply_migrations
from infra.processes import free_port
from infra.topics import provision_topics
from ingress.main import create_app as create_ingress
from ingress.settings import IngressSettings
from query.main import create_app as create_query
from query.settings import QuerySettings
from streams import summary as summary_module
from streams.summary import SummaryRefresher
from tests.integration.streams.helpers import WorkerProcess, produce, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

ADMIN_TOKEN = "usage-admin-token"
COPIES = ("usage_events", USAGE_EVENTS_BY_CUSTOMER, USAGE_EVENTS_BY_METRIC)
YEAR = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
_CLOCK = itertools.count(int(time.time() * 1_000_000))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Value:
    customer: str
    metric: str
    granularity: str
    period: datetime
    value: float
    properties: dict[str, Any]


class Data:
    """The values written for the rule cases, and the current value per key (the reference)."""

    def __init__(self, org_id: str) -> None:
        self.org_id = org_id
        self.records: list[UsageRecord] = []
        self.current: dict[tuple[str, str, str, datetime], Value] = {}

    def add(
        self,
        customer: str,
        metric: str,
        granularity: str,
        period: datetime,
        value: float,
        properties: dict[str, Any] | None = None,
    ) -> UsageRecord:
        ingested = max(next(_CLOCK), int(time.time() * 1e6))
        record = UsageRecord(
            org_id=self.org_id,
            customer_id=customer,
            external_customer_id=f"ext-{customer}",
            metric_key=metric,
            granularity=granularity,
            period_start=format_utc(period),
            value=value,
            event_type="credit",
            created_at_us=int(period.timestamp() * 1e6),
            ingested_at_us=ingested,
            properties=canonical_properties(properties),
        )
        self.current[(customer, metric, granularity, period)] = Value(
            customer, metric, granularity, period, value, properties or {}
        )
        return record

    def values(self, metric: str, granularity: str, customer: str | None = None) -> list[Value]:
        return [
            v
            for v in self.current.values()
            if v.metric == metric and v.granularity == granularity and customer in (None, v.customer)
        ]


# --- the reference model of the rules ------------------------------------------------------------------


def window_of(period: datetime, size: str, zone: str) -> tuple[datetime, datetime]:
    """The calendar window of ``size`` in ``zone`` holding ``period`` (both bounds in UTC)."""
    if size == "hour":
        start = period.replace(minute=0, second=0)
        return start, start + timedelta(hours=1)
    tz = ZoneInfo(zone)
    local = period.astimezone(tz)
    day = datetime(local.year, local.month, local.day, tzinfo=tz)
    if size == "day":
        start, end = day, datetime.combine((day + timedelta(days=1)).date(), datetime.min.time(), tz)
    elif size == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        months = {"month": 1, "quarter": 3, "year": 12}[size]
        first_month = (local.month - 1) // months * months + 1 if size != "year" else 1
        start = datetime(local.year, first_month, 1, tzinfo=tz)
        index = local.year * 12 + first_month - 1 + months
        end = datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def roll(values: list[Value], rollup: str) -> float:
    numbers = [v.value for v in values]
    if rollup == "max":
        return max(numbers)
    if rollup == "min":
        return min(numbers)
    if rollup == "avg":
        return sum(numbers) / len(numbers)
    if rollup == "last":
        return max(values, key=lambda v: v.period).value
    return sum(numbers)


def expected_windows(
    values: list[Value], size: str, rollup: str, start: datetime, end: datetime, zone: str = "UTC"
) -> list[dict[str, Any]]:
    """One customer's windows, as the API answers them."""
    buckets: dict[tuple[datetime, datetime], list[Value]] = {}
    for value in values:
        if start <= value.period < end:
            bounds = (start, end) if size == "all" else window_of(value.period, size, zone)
            buckets.setdefault(bounds, []).append(value)
    return [
        {
            "start": format_utc(s),
            "end": format_utc(e),
            "value": pytest.approx(roll(vs, rollup)),
            "periods": len(vs),
        }
        for (s, e), vs in sorted(buckets.items())
    ]


# --- the stack, once per module ------------------------------------------------------------------------


@dataclass
class Stack:
    ingress: TestClient
    query: TestClient
    clickhouse: ClickHouseSettings
    org_a: str
    key_a: str
    org_b: str
    key_b: str
    data: Data
    other: Data
    kafka: KafkaSettings | None = None

    def usage(self, body: dict[str, Any], key: str | None = None) -> Any:
        response = self.query.post(
            "/v1/usage/query", json=body, headers={"Authorization": f"Bearer {key or self.key_a}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.ingress.request(
            method, f"/admin/v1{path}", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code < 300, response.text
        return response.json()

    def push(self, events: list[dict[str, Any]]) -> Any:
        response = self.ingress.post(
            "/v1/usage/events", json={"events": events}, headers={"Authorization": f"Bearer {self.key_a}"}
        )
        assert response.status_code == 200, response.text
        return response.json()


def rule_values(data: Data) -> tuple[list[UsageRecord], list[UsageRecord]]:
    """The rule cases' values (first wave) and their replacements (second wave)."""
    first: list[UsageRecord] = []
    jan1 = at("2026-01-01T00:00:00Z")
    for day in range(105):  # 2026-01-01 .. 2026-04-15
        first.append(data.add("hooli", "r_daily", "daily", jan1 + timedelta(days=day), float(day % 17 + 1)))
    for monday in ("2026-06-01", "2026-06-08", "2026-06-15", "2026-06-22", "2026-06-29", "2026-07-06"):
        first.append(data.add("hooli", "r_weekly", "weekly", at(monday + "T00:00:00Z"), 2.0))
    for month in range(1, 13):
        first.append(
            data.add("hooli", "r_monthly", "monthly", datetime(2026, month, 1, tzinfo=UTC), float(month))
        )
    for start in ("2026-03-28T00:00:00Z", "2026-10-24T00:00:00Z"):  # both DST changes of Europe/Berlin
        for hour in range(72):
            first.append(data.add("hooli", "r_hourly", "hourly", at(start) + timedelta(hours=hour), 1.0))
    regions: list[tuple[str, str, dict[str, Any], float]] = [
        ("hooli", "2026-01-01", {"region": "eu", "tier": 1}, 1.0),
        ("hooli", "2026-01-02", {"region": "us"}, 2.0),
        ("hooli", "2026-01-03", {}, 4.0),
        ("hooli", "2026-01-04", {"region": None}, 8.0),
        ("aviato", "2026-01-01", {"region": "eu"}, 16.0),
    ]
    for customer, date, properties, value in regions:
        first.append(data.add(customer, "r_props", "daily", at(date + "T00:00:00Z"), value, properties))
    for customer in ("aviato", "hooli", "pied-piper"):  # ordering and pagination
        for metric in ("p_b", "p_a", "p_c"):
            first.append(data.add(customer, metric, "daily", at("2026-05-05T00:00:00Z"), 1.0))
    second = [
        data.add("hooli", "r_daily", "daily", at("2026-01-31T00:00:00Z"), 1000.0),  # the last of January
        data.add("hooli", "r_daily", "daily", at("2026-02-10T00:00:00Z"), 500.0),
        data.add("hooli", "r_daily", "daily", at("2026-03-31T00:00:00Z"), 0.5),  # the last of Q1
        data.add("hooli", "r_props", "daily", at("2026-01-02T00:00:00Z"), 32.0, {"region": "eu"}),
    ]
    return first, second


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, clickhouse_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    topic = f"usage_{uuid.uuid4().hex[:12]}"
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, usage_topic=topic, dead_letter_topic=f"{topic}_dlq", partitions=3
    )
    asyncio.run(provision_topics(kafka))
    clickhouse = ClickHouseSettings(url=clickhouse_server_url, database=f"test_{uuid.uuid4().hex[:12]}")
    apply_migrations(clickhouse)
    client = make_client(clickhouse)
    for table in COPIES:
        client.command(f"SYSTEM STOP MERGES {table}")  # every read happens before the merge
    work = tmp_path_factory.mktemp("usage")
    worker = WorkerProcess(
        kafka, clickhouse, work / "streams", f"usage-{topic}", work / "streams.log"
    ).start()
    saved = {name: os.environ.get(name) for name in ("QUIVLY_CONTROL_POLL_INTERVAL_S",)}
    os.environ["QUIVLY_CONTROL_POLL_INTERVAL_S"] = "0.2"
    ingress_app = create_ingress(
        IngressSettings(), kafka=kafka, clickhouse=clickhouse, admin=AdminSettings(admin_token=ADMIN_TOKEN)
    )
    query_app = create_query(QuerySettings(auth_cache_ttl_s=0.5), clickhouse)
    try:
        with (
            TestClient(ingress_app) as ingress,
            TestClient(query_app, raise_server_exceptions=False) as query,
        ):
            stack = _populate(ingress, query, clickhouse, kafka)
            yield stack
    finally:
        worker.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        client.command(f"DROP DATABASE IF EXISTS `{clickhouse.database}`")
        client.close()


def _populate(
    ingress: TestClient, query: TestClient, clickhouse: ClickHouseSettings, kafka: KafkaSettings
) -> Stack:
    stack = Stack(ingress, query, clickhouse, "", "", "", "", Data(""), Data(""), kafka)
    stack.org_a = stack.admin("POST", "/orgs", {"name": "Usage A"})["org_id"]
    stack.org_b = stack.admin("POST", "/orgs", {"name": "Usage B"})["org_id"]
    customers = [
        {
            "customer_id": "pied-piper",
            "name": "Pied Piper",
            "external_ids": [
                {"source": "salesforce", "id": "0015g00000ABC"},
                {"source": "hubspot", "id": "4711"},
            ],
        },
        {"customer_id": "hooli", "name": "Hooli", "external_ids": [{"source": "salesforce", "id": "H-1"}]},
    ]
    stack.admin("PUT", f"/orgs/{stack.org_a}/customers", {"customers": customers})
    stack.admin("POST", f"/orgs/{stack.org_a}/configuration", {"source": "push_api"})
    stack.admin("POST", f"/orgs/{stack.org_a}/configuration/publish")
    stack.key_a = stack.admin("POST", f"/orgs/{stack.org_a}/api-key")["api_key"]
    stack.key_b = stack.admin("POST", f"/orgs/{stack.org_b}/api-key")["api_key"]
    stack.data, stack.other = Data(stack.org_a), Data(stack.org_b)
    first, second = rule_values(stack.data)
    first.append(stack.other.add("hooli", "r_daily", "daily", at("2026-01-05T00:00:00Z"), 99.0))
    asyncio.run(produce(kafka, first))
    _wait_for_values(stack, len(stack.data.current) + len(stack.other.current) - 0, "the first wave")
    asyncio.run(produce(kafka, second))
    _wait_for_value(stack, "r_daily", "2026-03-31 00:00:00", 0.5)
    _wait_for_value(stack, "r_props", "2026-01-02 00:00:00", 32.0)
    _push_end_to_end(stack)
    return stack


def _count(stack: Stack, sql: str) -> float:
    client = make_client(stack.clickhouse)
    try:
        return float(str(client.command(sql)))
    finally:
        client.close()


def _wait_for_values(stack: Stack, expected: int, what: str) -> None:
    wait_for(lambda: _count(stack, "SELECT count() FROM usage_events FINAL") >= expected, 60, what)


def _wait_for_value(stack: Stack, metric: str, period: str, value: float) -> None:
    sql = f"SELECT value FROM usage_events FINAL WHERE metric_key = '{metric}' AND period_start = '{period}'"
    wait_for(lambda: _count(stack, sql) == value, 30, f"{metric} at {period} = {value}")


def _push_end_to_end(stack: Stack) -> None:
    """Through the push API: external IDs, a re-sent (replaced) value, metrics then configured."""
    stack.push(
        [
            {
                "external_customer_id": "0015g00000ABC",
                "metric_key": "api_calls",
                "value": 300,
                "timestamp": "2026-01-10T09:00:00Z",
            },
            {
                "external_customer_id": "4711",
                "metric_key": "api_calls",
                "value": 200,
                "timestamp": "2026-01-11T09:00:00Z",
            },
            {
                "external_customer_id": "H-1",
                "metric_key": "api_calls",
                "value": 7,
                "timestamp": "2026-01-10T12:00:00Z",
            },
            {
                "external_customer_id": "0015g00000ABC",
                "metric_key": "seats",
                "value": 10,
                "timestamp": "2026-01-05T09:00:00Z",
            },
            {
                "external_customer_id": "0015g00000ABC",
                "metric_key": "seats",
                "value": 4,
                "timestamp": "2026-01-06T09:00:00Z",
            },
            {
                "external_customer_id": "H-1",
                "metric_key": "seats",
                "value": 3,
                "timestamp": "2026-01-05T09:00:00Z",
            },
        ]
    )
    sql = "SELECT sum(value) FROM usage_events FINAL WHERE metric_key = 'api_calls'"
    wait_for(lambda: _count(stack, sql) == 507, 30, "the pushed values")
    # Re-sent: replaces the stored value of 2026-01-10 (never adds).
    stack.push(
        [
            {
                "external_customer_id": "4711",
                "metric_key": "api_calls",
                "value": 50,
                "timestamp": "2026-01-10T18:00:00Z",
            }
        ]
    )
    wait_for(lambda: _count(stack, sql) == 257, 30, "the replaced pushed value")
    wait_for(
        lambda: len(stack.admin("GET", f"/orgs/{stack.org_a}/metrics")["metrics"]) >= 2,
        30,
        "discovered metrics",
    )


# --- the rules -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", COPIES)
def test_replacements_are_not_merged_yet(stack: Stack, table: str) -> None:
    all_rows = _count(stack, f"SELECT count() FROM {table}")
    current = _count(stack, f"SELECT count() FROM {table} FINAL")
    assert all_rows >= current + 5  # the four replaced rule values and the re-sent push


@pytest.mark.parametrize("rollup", ["sum", "max", "min", "avg", "last"])
@pytest.mark.parametrize("size", ["day", "week", "month", "quarter", "year", "all"])
def test_each_rollup_per_window_size_with_replacements(stack: Stack, rollup: str, size: str) -> None:
    start, end = "2026-01-03T00:00:00Z", "2026-04-15T00:00:00Z"
    body = {
        "from": start,
        "to": end,
        "window_size": size,
        "metric_keys": ["r_daily"],
        "customer_ids": ["hooli"],
        "rollup": rollup,
        "limit": 1000,
    }
    answer = stack.usage(body)
    [series] = answer["series"]
    assert (
        series["metric_key"] == "r_daily" and series["customer_id"] == "hooli" and series["rollup"] == rollup
    )
    assert "properties" not in series
    values = stack.data.values("r_daily", "daily", "hooli")
    assert series["windows"] == expected_windows(values, size, rollup, at(start), at(end))
    assert answer["total_series"] == 1 and answer["window_size"] == size and answer["timezone"] == "UTC"


def test_last_and_avg_see_replaced_values_once(stack: Stack) -> None:
    body = {**YEAR, "metric_keys": ["r_daily"], "customer_ids": ["hooli"]}
    january = stack.usage({**body, "rollup": "last"})["series"][0]["windows"][0]
    assert january["value"] == 1000 and january["periods"] == 31  # the replacement of Jan 31, counted once
    march = stack.usage({**body, "rollup": "last"})["series"][0]["windows"][2]
    assert march["value"] == 0.5
    february = stack.usage({**body, "rollup": "avg"})["series"][0]["windows"][1]
    feb_values = [v.value for v in stack.data.values("r_daily", "daily") if v.period.month == 2]
    assert 500.0 in feb_values and february["value"] == pytest.approx(sum(feb_values) / 28)


def test_weekly_values_belong_to_the_month_of_their_monday(stack: Stack) -> None:
    body = {**YEAR, "granularity": "weekly", "metric_keys": ["r_weekly"]}
    windows = stack.usage(body)["series"][0]["windows"]
    assert windows == [
        {"start": "2026-06-01T00:00:00Z", "end": "2026-07-01T00:00:00Z", "value": 10, "periods": 5},
        {"start": "2026-07-01T00:00:00Z", "end": "2026-08-01T00:00:00Z", "value": 2, "periods": 1},
    ]
    weeks = stack.usage({**body, "window_size": "week"})["series"][0]["windows"]
    assert [w["start"] for w in weeks][-2:] == ["2026-06-29T00:00:00Z", "2026-07-06T00:00:00Z"]
    assert weeks[-1]["end"] == "2026-07-13T00:00:00Z"


def test_quarter_windows_and_the_all_window(stack: Stack) -> None:
    body = {**YEAR, "granularity": "monthly", "metric_keys": ["r_monthly"], "window_size": "quarter"}
    windows = stack.usage(body)["series"][0]["windows"]
    assert [(w["start"], w["end"], w["value"], w["periods"]) for w in windows] == [
        ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z", 6, 3),
        ("2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", 15, 3),
        ("2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", 24, 3),
        ("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z", 33, 3),
    ]
    # from inside February: February's value (period 2026-02-01) is before from; to is exclusive.
    window = {"from": "2026-02-15T00:00:00Z", "to": "2026-05-01T00:00:00Z", "window_size": "all"}
    windows = stack.usage({**body, **window})["series"][0]["windows"]
    assert windows == [
        {"start": "2026-02-15T00:00:00Z", "end": "2026-05-01T00:00:00Z", "value": 7, "periods": 2}
    ]
    year = stack.usage({**body, "window_size": "year"})["series"][0]["windows"]
    assert year == [
        {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "value": 78, "periods": 12}
    ]
    # A quarter window partly outside [from, to) keeps its calendar bounds.
    partial = stack.usage({**body, **window, "window_size": "quarter"})["series"][0]["windows"]
    assert [(w["start"], w["value"]) for w in partial] == [
        ("2026-01-01T00:00:00Z", 3),
        ("2026-04-01T00:00:00Z", 4),
    ]


def test_hourly_values_in_a_zone_with_dst_changes(stack: Stack) -> None:
    body = {
        **YEAR,
        "granularity": "hourly",
        "window_size": "day",
        "timezone": "Europe/Berlin",
        "metric_keys": ["r_hourly"],
    }
    answer = stack.usage(body)
    windows = {w["start"]: w for w in answer["series"][0]["windows"]}
    assert answer["timezone"] == "Europe/Berlin"
    spring = windows["2026-03-28T23:00:00Z"]  # local midnight of the 23-hour day
    assert spring == {
        "start": "2026-03-28T23:00:00Z",
        "end": "2026-03-29T22:00:00Z",
        "value": 23,
        "periods": 23,
    }
    autumn = windows["2026-10-24T22:00:00Z"]  # the 25-hour day
    assert autumn == {
        "start": "2026-10-24T22:00:00Z",
        "end": "2026-10-25T23:00:00Z",
        "value": 25,
        "periods": 25,
    }
    values = stack.data.values("r_hourly", "hourly")
    assert answer["series"][0]["windows"] == expected_windows(
        values, "day", "sum", at(YEAR["from"]), at(YEAR["to"]), "Europe/Berlin"
    )
    hours = stack.usage({**body, "window_size": "hour"})["series"][0]["windows"]
    assert len(hours) == 144 and all(w["periods"] == 1 for w in hours)  # the repeated local hour: two windows
    weeks = stack.usage({**body, "window_size": "week"})["series"][0]["windows"]
    assert weeks == expected_windows(values, "week", "sum", at(YEAR["from"]), at(YEAR["to"]), "Europe/Berlin")
    assert weeks[0]["start"] == "2026-03-22T23:00:00Z"  # Monday 2026-03-23, 00:00 CET


def test_totals_across_customers_sum_each_customers_max(stack: Stack) -> None:
    stack.admin("PATCH", f"/orgs/{stack.org_a}/metrics/seats", {"rollup": "max"})
    per_customer = stack.usage({**YEAR, "metric_keys": ["seats"]})["series"]
    assert [(s["customer_id"], s["rollup"], s["windows"][0]["value"]) for s in per_customer] == [
        ("hooli", "max", 3),
        ("pied-piper", "max", 10),
    ]
    totals = stack.usage({**YEAR, "metric_keys": ["seats"], "group_by": []})["series"]
    assert totals == [
        {
            "metric_key": "seats",
            "rollup": "max",
            "windows": [
                {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z", "value": 13, "periods": 3}
            ],
        }
    ]


def test_a_rollup_changed_in_the_admin_api_applies_to_the_next_query(stack: Stack) -> None:
    body = {**YEAR, "metric_keys": ["api_calls"], "customer_ids": ["pied-piper"]}
    assert stack.usage(body)["series"][0]["windows"][0]["value"] == 250  # sum: 50 (re-sent) + 200
    for rollup, expected in (("max", 200), ("avg", 125), ("last", 200), ("min", 50)):
        stack.admin("PATCH", f"/orgs/{stack.org_a}/metrics/api_calls", {"rollup": rollup})
        series = stack.usage(body)["series"][0]
        assert (series["rollup"], series["windows"][0]["value"]) == (rollup, expected)
    stack.admin("PATCH", f"/orgs/{stack.org_a}/metrics/api_calls", {"rollup": "sum"})


def test_grouping_by_a_property_with_missing_values(stack: Stack) -> None:
    body = {**YEAR, "metric_keys": ["r_props"], "group_by": ["property:region"]}
    series = stack.usage(body)["series"]
    assert [(s["properties"], s["windows"][0]["value"], s["windows"][0]["periods"]) for s in series] == [
        ({"region": None}, 12, 2),  # absent and JSON null
        ({"region": "eu"}, 49, 3),  # hooli 1 + 32 (replaced from "us"), aviato 16
    ]
    assert all("customer_id" not in s for s in series)
    both = stack.usage({**body, "group_by": ["customer", "property:region", "property:tier"]})["series"]
    assert [(s["customer_id"], s["properties"], s["windows"][0]["value"]) for s in both] == [
        ("aviato", {"region": "eu", "tier": None}, 16),
        ("hooli", {"region": None, "tier": None}, 12),
        ("hooli", {"region": "eu", "tier": None}, 32),
        ("hooli", {"region": "eu", "tier": 1}, 1),
    ]


def test_external_ids_select_customers_and_unknown_ones_are_reported(stack: Stack) -> None:
    body = {**YEAR, "metric_keys": ["api_calls"], "external_customer_ids": ["4711", "nope", "0015g00000ABC"]}
    answer = stack.usage(body)
    assert [s["customer_id"] for s in answer["series"]] == ["pied-piper"]
    assert answer["unresolved_external_customer_ids"] == ["nope"]
    both = stack.usage({**body, "customer_ids": ["hooli"]})
    assert [s["customer_id"] for s in both["series"]] == ["hooli", "pied-piper"]
    nobody = stack.usage({**YEAR, "external_customer_ids": ["nope"]})
    assert nobody["series"] == [] and nobody["total_series"] == 0
    assert nobody["unresolved_external_customer_ids"] == ["nope"]


def test_series_order_and_pagination(stack: Stack) -> None:
    body = {
        "from": "2026-05-01T00:00:00Z",
        "to": "2026-06-01T00:00:00Z",
        "metric_keys": ["p_c", "p_a", "p_b"],
    }
    everything = stack.usage({**body, "limit": 1000})
    keys = [(s["metric_key"], s["customer_id"]) for s in everything["series"]]
    assert keys == [(m, c) for m in ("p_a", "p_b", "p_c") for c in ("aviato", "hooli", "pied-piper")]
    assert everything["total_series"] == 9
    pages = []
    for offset in range(0, 12, 4):
        page = stack.usage({**body, "limit": 4, "offset": offset})
        assert page["total_series"] == 9 and page["limit"] == 4 and page["offset"] == offset
        pages += page["series"]
    assert pages == everything["series"]
    past = stack.usage({**body, "limit": 4, "offset": 20})
    assert past["series"] == [] and past["total_series"] == 9


def test_another_organization_sees_nothing_of_it(stack: Stack) -> None:
    theirs = stack.usage({**YEAR, "window_size": "all"}, key=stack.key_b)
    assert [(s["metric_key"], s["customer_id"], s["windows"][0]["value"]) for s in theirs["series"]] == [
        ("r_daily", "hooli", 99)
    ]
    ours = stack.usage({**YEAR, "window_size": "all", "metric_keys": ["r_daily"], "rollup": "max"})
    assert ours["series"][0]["windows"][0]["value"] == 1000


def test_validation_errors_name_the_field(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.key_a}"}
    response = stack.query.post(
        "/v1/usage/query",
        json={
            "from": "2026-02-01T00:00:00Z",
            "to": "2026-01-01T00:00:00Z",
            "window_size": "hour",
            "metric_keys": ["a", "", "c"],
        },
        headers=headers,
    )
    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False and body["code"] == "VALIDATION_ERROR"
    assert [d["path"] for d in body["details"]] == ["to", "window_size", "metric_keys[1]"]
    response = stack.query.post("/v1/usage/query", content=b"{not json", headers=headers)
    assert response.status_code == 422 and response.json()["details"][0]["path"] == "body"
    response = stack.query.post(
        "/v1/usage/query", json={**YEAR, "timezone": "Europe/Berlin"}, headers=headers
    )
    assert [d["path"] for d in response.json()["details"]] == ["timezone"]


def test_a_missing_or_unknown_key_is_401(stack: Stack) -> None:
    for headers in ({}, {"Authorization": "Bearer qvk_unknown"}, {"Authorization": "Basic abc"}):
        response = stack.query.post("/v1/usage/query", json=YEAR, headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "success": False,
            "error": "Invalid or missing API key",
            "code": "UNAUTHORIZED",
        }


@pytest.mark.parametrize("rollup", ["", "sum", "max", "min", "avg", "last"])
def test_the_sql_view_for_data_teams_gives_the_same_numbers(stack: Stack, rollup: str) -> None:
    body: dict[str, Any] = {**YEAR, "group_by": ["customer", "property:region"], "limit": 1000}
    if rollup:
        body["rollup"] = rollup
    api = {
        (s["metric_key"], s["customer_id"], str(s["properties"]["region"]), w["start"], w["end"]): (
            s["rollup"],
            pytest.approx(w["value"]),
            w["periods"],
        )
        for s in stack.usage(body)["series"]
        for w in s["windows"]
    }
    sql = (
        "SELECT metric_key, customer_id, properties[1], window_start, window_end, rollup, value, periods "
        "FROM usage_rollup(org_id = {org:String}, granularity = 'daily', window_size = 'month', "
        "timezone = 'UTC', start_time = '2026-01-01 00:00:00', end_time = '2027-01-01 00:00:00', "
        "rollup = {rollup:String}, group_properties = ['region'])"
    )
    client = make_client(stack.clickhouse)
    try:
        rows = client.query(sql, parameters={"org": stack.org_a, "rollup": rollup}).result_rows
    finally:
        client.close()
    view = {
        (metric, customer, str(_json_or_none(region)), format_utc(start), format_utc(end)): (
            r,
            value,
            periods,
        )
        for metric, customer, region, start, end, r, value, periods in rows
    }
    assert len(view) > 10
    assert view == api


def _json_or_none(raw: str) -> Any:
    return orjson.loads(raw) if raw else None


def test_the_openapi_schema_describes_the_endpoint(stack: Stack) -> None:
    schema = stack.query.get("/openapi.json").json()
    operation = schema["paths"]["/v1/usage/query"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["from", "to"] and "group_by" in body["properties"]
    assert set(operation["responses"]) >= {"200", "401", "422", "503"}


@pytest.fixture(scope="module")
def query_url(stack: Stack) -> Iterator[str]:
    """The query app served over HTTP (uvicorn in a thread), for the CLI."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_query(QuerySettings(), stack.clickhouse), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 15, "the query server")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_the_cli_prints_the_same_numbers(stack: Stack, query_url: str) -> None:
    env = {"QUIVLY_API_URL": query_url, "QUIVLY_API_KEY": stack.key_a}
    args = [
        "usage",
        "--from",
        "2026-01-01",
        "--to",
        "2027-01-01",
        "--metric",
        "r_props",
        "--metric",
        "api_calls",
    ]
    runner = CliRunner()
    as_json = runner.invoke(cli_app, [*args, "--format", "json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    answer = orjson.loads(as_json.stdout)
    assert answer == stack.usage({**YEAR, "metric_keys": ["r_props", "api_calls"]})
    as_csv = runner.invoke(
        cli_app, [*args, "--format", "csv", "--group-by", "none", "--rollup", "max"], env=env
    )
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout.splitlines() == [
        "metric_key,customer_id,properties,rollup,start,end,value,periods",
        "api_calls,,,max,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z,207,3",  # pied-piper 200 + hooli 7
        "r_props,,,max,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z,48,5",  # hooli 32 + aviato 16
    ]
    table = runner.invoke(
        cli_app, [*args, "--external-id", "H-1", "--external-id", "nope"], env={**env, "COLUMNS": "200"}
    )
    assert table.exit_code == 0, table.output
    assert (
        "hooli" in table.stdout
        and "pied-piper" not in table.stdout
        and "unresolved external IDs: nope" in table.stdout
    )
    wrong_key = runner.invoke(cli_app, args, env={**env, "QUIVLY_API_KEY": "qvk_wrong"})
    assert wrong_key.exit_code == 1 and "401" in wrong_key.output


# --- monthly summaries (the streams worker's refresher, ``streams.summary``) ----------------------------


def _summary_bodies() -> list[dict[str, Any]]:
    """Reads over every customer (the metric-ordered copy) into month-made windows: the ones a
    monthly summary can answer, over whole and partial months."""
    bodies: list[dict[str, Any]] = []
    ranges = [YEAR, {"from": "2026-01-03T00:00:00Z", "to": "2026-04-15T00:00:00Z"}]
    for rollup, size, group_by, bounds in itertools.product(
        ["sum", "max", "min", "avg", "last"],
        ["month", "quarter", "year", "all"],
        [["customer"], [], ["property:region"], ["customer", "property:region"]],
        ranges,
    ):
        metrics = ["r_daily", "seats", "api_calls", "r_props"]
        bodies.append(
            {**bounds, "window_size": size, "group_by": group_by, "rollup": rollup, "metric_keys": metrics}
        )
    bodies.append({**YEAR, "granularity": "weekly", "metric_keys": ["r_weekly"]})
    bodies.append({**YEAR, "granularity": "monthly", "window_size": "quarter", "metric_keys": ["r_monthly"]})
    bodies.append({**YEAR, "granularity": "hourly", "metric_keys": ["r_hourly"]})
    bodies.append({**YEAR, "limit": 1000})  # every metric, configured rollups
    return bodies


def _summarized_months(stack: Stack) -> dict[int, int]:
    client = make_client(stack.clickhouse)
    try:
        statement = current_summaries(list(range(202601, 202613)))
        return {
            int(m): int(v)
            for m, v in client.query(statement.sql, parameters=statement.parameters).result_rows
        }
    finally:
        client.close()


def test_monthly_summaries_give_the_same_answers_and_yield_to_later_writes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _summary_bodies()
    from_values = [stack.usage(body) for body in bodies]
    refresher = SummaryRefresher(lambda: make_client(stack.clickhouse))
    refresher.refresh(settled_only=False)
    summarized = _summarized_months(stack)
    assert {202601, 202602, 202603, 202604, 202605, 202606, 202607, 202610, 202612} <= set(summarized)
    assert [stack.usage(body) for body in bodies] == from_values

    # A value of February written after its summary: February is read from the values again.
    later = stack.data.add("hooli", "r_daily", "daily", at("2026-02-11T00:00:00Z"), 250.0)
    assert stack.kafka is not None
    asyncio.run(produce(stack.kafka, [later]))
    _wait_for_value(stack, "r_daily", "2026-02-11 00:00:00", 250.0)
    assert 202602 not in _summarized_months(stack)
    body = {**YEAR, "metric_keys": ["r_daily"], "rollup": "sum"}
    values = stack.data.values("r_daily", "daily", "hooli")
    expected = expected_windows(values, "month", "sum", at(YEAR["from"]), at(YEAR["to"]))
    assert stack.usage(body)["series"][0]["windows"] == expected

    # The next rounds summarize February again (once its version held for a round); the replaced
    # summary goes once a newer one is complete (kept 0 s here).
    monkeypatch.setattr(summary_module, "REPLACED_KEPT_S", 0.0)
    wait_for(lambda: bool(refresher.refresh()) and 202602 in _summarized_months(stack), 30, "February again")
    assert stack.usage(body)["series"][0]["windows"] == expected
    refresher.refresh()
    client = make_client(stack.clickhouse)
    try:
        february = client.query(
            "SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() "
            "AND table = 'usage_monthly' AND active AND partition_id LIKE '202602-%'"
        ).result_rows
    finally:
        client.close()
    assert february == [(f"202602-{_summarized_months(stack)[202602]}",)]
