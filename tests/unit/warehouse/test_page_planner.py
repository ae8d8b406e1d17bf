"""The fast page planner gives what the push path's rules give (check_page + RunTally.plan)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.records import UsageRecord
from ingress.warehouse.rows import Layout, Page, PagePlanner, RunTally, check_page

RECEIVED_AT = datetime(2026, 11, 20, 12, 30, 15, 123456, tzinfo=UTC)
OPTIONAL = ["timestamp", "granularity", "properties", "event_type", "updated_at"]
CUSTOMERS = {"c-1": "cust-1", "c-2": 'cust-\u00e9"2', "Ext 3": "cust-3"}


def resolve(org_id: str, external_id: str) -> str | None:
    return CUSTOMERS.get(external_id)


moments = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31))
zones = st.sampled_from(
    [
        None,
        UTC,
        timezone(timedelta(hours=-7)),
        timezone(timedelta(hours=5, minutes=30)),
        ZoneInfo("Europe/Paris"),
    ]
)
datetimes = st.builds(
    lambda moment, zone, fold: moment.replace(tzinfo=zone, fold=fold), moments, zones, st.integers(0, 1)
)
recent = st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2300, 1, 1), timezones=st.just(UTC))
texts = st.sampled_from(["", " ", "x" * 256, "yesterday", "2026-11-20", "2026-11-20T09:30:00Z", "1"])
values = {
    "external_customer_id": st.one_of(
        st.sampled_from([*CUSTOMERS, "c-9", "c-8"]), texts, st.none(), st.integers()
    ),
    "metric_key": st.one_of(st.sampled_from(["api_calls", "seats", "m" * 129]), texts, st.none()),
    "value": st.one_of(
        st.floats(),
        st.integers(min_value=-(2**1030), max_value=2**1030),
        st.decimals(allow_nan=True, allow_infinity=True).filter(lambda d: not d.is_snan()),
        st.booleans(),
        st.none(),
        texts,
    ),
    "timestamp": st.one_of(st.none(), recent, datetimes, st.dates(), texts, st.integers()),
    "granularity": st.one_of(st.none(), st.sampled_from(["hourly", "daily", "weekly", "monthly", "yearly"])),
    "properties": st.one_of(
        st.none(),
        st.sampled_from(["", "  ", '{"plan":"pro","seats":3}', "not json", "[1]", "null", "{}"]),
        st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3), max_size=3),
    ),
    "event_type": st.one_of(st.none(), st.sampled_from(["credit", "debit", "refund"])),
    "updated_at": st.one_of(st.none(), datetimes, st.dates(), texts),
}


@st.composite
def pages(draw: st.DrawFn) -> tuple[list[str], list[list[tuple[Any, ...]]]]:
    columns = ["external_customer_id", "metric_key", "value"]
    columns += [name for name in OPTIONAL if draw(st.booleans())]
    columns = draw(st.permutations(columns))
    rows = draw(st.lists(st.tuples(*(values[name] for name in columns)), max_size=40))
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=3)))
    bounds = [0, *cuts, len(rows)]
    return [name.upper() if name == "metric_key" else name for name in columns], [
        rows[start:end] for start, end in itertools.pairwise(bounds)
    ]


def by_definition(
    layout: Layout, columns: list[str], chunks: list[Any], live: bool
) -> tuple[RunTally, list[Any]]:
    tally, records = RunTally(), []
    for rows in chunks:
        checked = check_page(layout, Page(columns, rows), tally.rows_read)
        records += tally.plan("org-1", checked, len(rows), resolve, live, RECEIVED_AT).records
    return tally, records


def fast(layout: Layout, chunks: list[Any], live: bool) -> tuple[RunTally, list[Any]]:
    tally, records = RunTally(), []
    planner = PagePlanner("org-1", layout, resolve, live, RECEIVED_AT, tally)
    for rows in chunks:
        plan = planner.plan(rows)
        assert plan.rows == len(rows)
        records += plan.records
    return tally, records


@settings(max_examples=400, deadline=None)
@given(pages(), st.booleans())
def test_the_fast_planner_gives_what_the_push_rules_give(page: Any, live: bool) -> None:
    columns, chunks = page
    layout = Layout.of(columns, "updated_at" if "updated_at" in columns else "")
    expected_tally, expected_records = by_definition(layout, columns, chunks, live)
    tally, records = fast(layout, chunks, live)
    assert records == expected_records
    assert tally == expected_tally
    assert tally.report(capped=False) == expected_tally.report(capped=False)


def test_many_rows_keep_the_report_to_its_limits_and_every_record() -> None:
    columns = ["external_customer_id", "metric_key", "value", "timestamp", "updated_at"]
    layout = Layout.of(columns, "updated_at")
    start = datetime(2026, 1, 1)
    rows = [
        (
            f"c-{1 + i % 4}" if i % 7 else "",
            "api_calls",
            i,
            start + timedelta(hours=i),
            date(2026, 11, 1 + i % 20),
        )
        for i in range(1000)
    ]
    chunks = [rows[:150], rows[150:420], rows[420:]]
    expected_tally, expected_records = by_definition(layout, columns, chunks, True)
    tally, records = fast(layout, chunks, True)
    assert records == expected_records and tally == expected_tally
    report = tally.report(capped=False)
    assert len(report["results"]) == len(report["errors"]) == len(report["invalid_rows"]) == 100
    assert report["watermark"] == "2026-11-20T00:00:00Z"
    first = UsageRecord.from_bytes(records[0][1])
    assert (first.customer_id, first.value, first.period_start) == (
        'cust-\u00e9"2',
        1.0,
        "2026-01-01T00:00:00Z",
    )
