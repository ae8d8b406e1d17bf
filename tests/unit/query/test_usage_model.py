"""The usage query's request model, SQL and response shaping (``core.usage_rollup``), without ClickHouse."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from core.periods import Granularity
from core.usage_rollup import (
    MAX_WINDOWS_PER_PAGE,
    PageContext,
    RecentContexts,
    Rollup,
    Statement,
    UsageQuery,
    UsageValidationError,
    WindowSize,
    parse_usage_body,
    rollup_page,
    run_usage_query,
    summary_months,
    validate_usage_query,
    value_bounds,
)
from core.usage_summary import whole_months

RANGE = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}


def errors_of(body: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(UsageValidationError) as caught:
        validate_usage_query(body)
    return caught.value.details


def paths_of(body: dict[str, Any]) -> list[str]:
    return [error["path"] for error in errors_of(body)]


def test_defaults() -> None:
    query = validate_usage_query(dict(RANGE))
    assert query == UsageQuery(
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2027, 1, 1, tzinfo=UTC),
        granularity=Granularity.DAILY,
        window_size=WindowSize.MONTH,
        timezone="UTC",
        by_customer=True,
        limit=100,
        offset=0,
    )
    assert query.group_by == ["customer"]


def test_every_field() -> None:
    query = validate_usage_query(
        {
            "from": "2026-03-01T00:00:00+01:00",
            "to": "2026-04-01T00:00:00",
            "granularity": "hourly",
            "window_size": "day",
            "timezone": "Europe/Berlin",
            "metric_keys": ["b", "a", "b"],
            "customer_ids": ["c1"],
            "external_customer_ids": ["x1", "x2"],
            "group_by": ["property:region", "customer", "property:plan"],
            "rollup": "last",
            "limit": 1000,
            "offset": 5,
            "unknown": "ignored",
        }
    )
    assert query.start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert query.end == datetime(2026, 4, 1, tzinfo=UTC)  # offset-less: UTC
    assert query.metric_keys == ("b", "a")  # duplicates asked once
    assert query.by_customer and query.group_properties == ("region", "plan")
    assert query.rollup is Rollup.LAST and query.limit == 1000 and query.offset == 5


def test_from_and_to_are_required_and_to_must_be_after_from() -> None:
    assert paths_of({}) == ["from", "to"]
    assert paths_of({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}) == ["to"]
    assert paths_of({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}) == ["to"]
    assert paths_of({"from": "yesterday", "to": 5}) == ["from", "to"]
    assert paths_of({"from": "2026-01-01", "to": "2026-13-01T00:00:00Z"}) == ["from", "to"]


@pytest.mark.parametrize(
    ("granularity", "allowed"),
    [
        ("hourly", ["hour", "day", "week", "month", "quarter", "year", "all"]),
        ("daily", ["day", "week", "month", "quarter", "year", "all"]),
        ("weekly", ["week", "month", "quarter", "year", "all"]),
        ("monthly", ["month", "quarter", "year", "all"]),
    ],
)
def test_window_size_is_never_finer_than_the_values(granularity: str, allowed: list[str]) -> None:
    for size in WindowSize:
        body = {**RANGE, "granularity": granularity, "window_size": size.value}
        if size.value in allowed:
            assert validate_usage_query(body).window_size is size
        else:
            assert paths_of(body) == ["window_size"]


def test_enumerations() -> None:
    assert paths_of({**RANGE, "granularity": "yearly"}) == ["granularity"]
    assert paths_of({**RANGE, "window_size": "decade"}) == ["window_size"]
    assert paths_of({**RANGE, "window_size": 1}) == ["window_size"]
    assert paths_of({**RANGE, "rollup": "median"}) == ["rollup"]
    assert (
        errors_of({**RANGE, "rollup": "median"})[0]["message"] == "must be one of: sum, max, min, avg, last"
    )


def test_timezone_is_an_iana_name_and_other_than_utc_only_with_hourly_values() -> None:
    assert paths_of({**RANGE, "granularity": "hourly", "timezone": "Mars/Olympus"}) == ["timezone"]
    assert paths_of({**RANGE, "granularity": "hourly", "timezone": "+02:00"}) == ["timezone"]
    assert paths_of({**RANGE, "timezone": "Europe/Berlin"}) == ["timezone"]  # daily values
    assert validate_usage_query({**RANGE, "timezone": "UTC"}).timezone == "UTC"
    query = validate_usage_query({**RANGE, "granularity": "hourly", "timezone": "Asia/Kolkata"})
    assert query.timezone == "Asia/Kolkata"


def test_lists_name_each_failing_item() -> None:
    details = errors_of({**RANGE, "metric_keys": ["ok", "", 3, "x" * 129]})
    assert [d["path"] for d in details] == ["metric_keys[1]", "metric_keys[2]", "metric_keys[3]"]
    assert paths_of({**RANGE, "metric_keys": []}) == ["metric_keys"]
    assert paths_of({**RANGE, "metric_keys": ["m"] * 101}) == ["metric_keys"]
    assert paths_of({**RANGE, "metric_keys": "api_calls"}) == ["metric_keys"]
    assert paths_of({**RANGE, "customer_ids": ["c"] * 1001}) == ["customer_ids"]
    assert paths_of({**RANGE, "customer_ids": ["c", "x" * 256]}) == ["customer_ids[1]"]
    assert paths_of({**RANGE, "external_customer_ids": [None]}) == ["external_customer_ids[0]"]
    assert validate_usage_query({**RANGE, "customer_ids": ["c"] * 1000}).customer_ids == ("c",)


def test_group_by() -> None:
    assert validate_usage_query({**RANGE, "group_by": []}).group_by == []
    query = validate_usage_query({**RANGE, "group_by": ["property:a", "property:b", "property:c"]})
    assert not query.by_customer and query.group_properties == ("a", "b", "c")
    assert paths_of({**RANGE, "group_by": ["property:a", "property:b", "property:c", "property:d"]}) == [
        "group_by[3]"
    ]
    assert paths_of({**RANGE, "group_by": ["customer", "customer"]}) == ["group_by[1]"]
    assert paths_of({**RANGE, "group_by": ["region"]}) == ["group_by[0]"]
    assert paths_of({**RANGE, "group_by": ["property:"]}) == ["group_by[0]"]
    assert paths_of({**RANGE, "group_by": "customer"}) == ["group_by"]


def test_limit_and_offset() -> None:
    assert paths_of({**RANGE, "limit": 0}) == ["limit"]
    assert paths_of({**RANGE, "limit": 1001}) == ["limit"]
    assert paths_of({**RANGE, "limit": True}) == ["limit"]
    assert paths_of({**RANGE, "offset": -1}) == ["offset"]
    assert paths_of({**RANGE, "offset": 1.5}) == ["offset"]


def test_errors_come_in_field_order() -> None:
    body = {"to": "x", "window_size": "hour", "timezone": "Europe/Berlin", "limit": 0}
    assert paths_of(body) == ["from", "to", "window_size", "timezone", "limit"]


def test_body_must_be_a_json_object() -> None:
    for raw in (b"", b"[]", b"{", b"null"):
        with pytest.raises(UsageValidationError) as caught:
            parse_usage_body(raw)
        assert [d["path"] for d in caught.value.details] == ["body"]
    assert parse_usage_body(orjson.dumps(RANGE)).window_size is WindowSize.MONTH


def test_bounds_are_whole_seconds_inside_the_range_of_datetime() -> None:
    query = validate_usage_query({"from": "2026-01-01T00:00:00.5Z", "to": "2026-01-01T01:00:00Z"})
    assert value_bounds(query) == (1767225601, 1767229199)
    assert (
        value_bounds(validate_usage_query({"from": "1900-01-01T00:00:00Z", "to": "1970-01-01T00:00:00Z"}))
        is None
    )
    wide = validate_usage_query({"from": "1900-01-01T00:00:00Z", "to": "2300-01-01T00:00:00Z"})
    assert value_bounds(wide) == (0, 2**32 - 1)


def test_every_request_value_is_a_bound_parameter() -> None:
    query = validate_usage_query(
        {**RANGE, "metric_keys": ["x'; DROP TABLE t; --"], "group_by": ["property:a'b"], "rollup": "max"}
    )
    statement = rollup_page("org'1", query, ["c'1"])
    assert "DROP" not in statement.sql and "a'b" not in statement.sql and "org'1" not in statement.sql
    assert statement.parameters["metric_keys"] == ["x'; DROP TABLE t; --"]
    assert statement.parameters["group_property_0"] == "a'b"
    assert statement.parameters["customer_ids"] == ["c'1"]
    assert statement.parameters["rollup"] == "max"
    assert " FINAL " in statement.sql


def test_a_few_customers_are_read_by_customer_else_by_metric() -> None:
    query = validate_usage_query(dict(RANGE))
    assert "FROM usage_events_by_customer FINAL" in rollup_page("o", query, ["c1"] * 50).sql
    assert "FROM usage_events_by_metric FINAL" in rollup_page("o", query, ["c1"] * 51).sql
    assert "FROM usage_events_by_metric FINAL" in rollup_page("o", query, None).sql


def test_one_rollup_in_play_computes_one_aggregate() -> None:
    query = validate_usage_query({**RANGE, "metric_keys": ["a", "b"]})
    sql = rollup_page("o", query, None, {"a": Rollup.MAX, "b": Rollup.MAX}).sql
    assert "max(value)" in sql and "sum(value)" not in sql and "multiIf" not in sql
    mixed = rollup_page("o", query, None, {"a": Rollup.MAX, "b": Rollup.LAST})
    assert (
        "multiIf(rollup = 'max', max(value), rollup = 'last', argMax(value, period_start), sum(value))"
        in mixed.sql
    )
    assert mixed.parameters["rollup_metrics"] == ["a", "b"] and mixed.parameters["rollup_names"] == [
        "max",
        "last",
    ]
    every_metric = rollup_page("o", validate_usage_query(dict(RANGE)), None, {"a": Rollup.MIN})
    assert "rollup = 'min', min(value)" in every_metric.sql  # metrics without a configured rollup: sum
    override = rollup_page("o", validate_usage_query({**RANGE, "rollup": "avg"}), None, {"a": Rollup.MIN})
    assert "avg(value)" in override.sql and "min(value)" not in override.sql


def test_properties_are_read_only_when_grouping_by_them() -> None:
    assert "properties" not in rollup_page("o", validate_usage_query(dict(RANGE)), None).sql
    grouped = validate_usage_query({**RANGE, "group_by": ["property:region"]})
    assert "JSONExtractRaw(properties" in rollup_page("o", grouped, None).sql


class FakeRunner:
    """Answers the statements in order (the SQL itself is covered by the integration tests)."""

    def __init__(self, *answers: Sequence[Sequence[Any]]) -> None:
        self.answers = list(answers)
        self.statements: list[Statement] = []

    def __call__(self, statement: Statement) -> Sequence[Sequence[Any]]:
        self.statements.append(statement)
        return self.answers.pop(0)


def test_unknown_external_ids_are_reported_and_nothing_is_read_without_customers() -> None:
    query = validate_usage_query({**RANGE, "external_customer_ids": ["nope", "gone"]})
    run = FakeRunner([])
    result = run_usage_query("org1", query, run)
    assert len(run.statements) == 1  # only the resolution
    assert result.to_json()["series"] == [] and result.total_series == 0
    assert result.unresolved_external_customer_ids == ["nope", "gone"]


def test_rows_become_series_and_windows() -> None:
    query = validate_usage_query(
        {**RANGE, "group_by": ["property:region"], "external_customer_ids": ["x1", "x9"]}
    )
    rows = [
        (
            "api_calls",
            "",
            ['"eu"'],
            "max",
            [1767225600, 1769904000],
            [1769904000, 1772323200],
            [3.0, 2.5],
            [2, 1],
            1,
            2,
            3,
        ),
        ("api_calls", "", [""], "max", [1767225600], [1769904000], [7.0], [1], 2, 2, 3),
    ]
    run = FakeRunner([("x1", "c1")], [("rollup", "api_calls", "max", 0, 0)], rows)
    body = run_usage_query("org1", query, run).to_json()
    assert "metric_rollups_current" in run.statements[1].sql
    assert run.statements[2].parameters["customer_ids"] == ["c1"]
    assert run.statements[2].parameters["rollup_metrics"] == ["api_calls"]
    assert body["series"] == [
        {
            "metric_key": "api_calls",
            "properties": {"region": "eu"},
            "rollup": "max",
            "windows": [
                {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z", "value": 3, "periods": 2},
                {"start": "2026-02-01T00:00:00Z", "end": "2026-03-01T00:00:00Z", "value": 2.5, "periods": 1},
            ],
        },
        {
            "metric_key": "api_calls",
            "properties": {"region": None},
            "rollup": "max",
            "windows": [
                {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z", "value": 7, "periods": 1}
            ],
        },
    ]
    assert body["total_series"] == 2 and body["unresolved_external_customer_ids"] == ["x9"]
    assert body["from"] == "2026-01-01T00:00:00Z" and body["window_size"] == "month"


def test_all_window_spans_from_to() -> None:
    query = validate_usage_query(
        {"from": "2026-01-15T12:00:00Z", "to": "2026-02-01T00:00:00Z", "window_size": "all"}
    )
    run = FakeRunner([], [("m", "c1", [], "sum", [0], [0], [4.0], [4], 1, 1, 1)])
    window = run_usage_query("org1", query, run).to_json()["series"][0]["windows"][0]
    assert window == {
        "start": "2026-01-15T12:00:00Z",
        "end": "2026-02-01T00:00:00Z",
        "value": 4,
        "periods": 4,
    }


def test_a_page_past_the_last_series_counts_the_series() -> None:
    query = validate_usage_query({**RANGE, "offset": 10, "rollup": "avg"})
    run = FakeRunner([("summary", "", "", 202603, 7)], [], [(3,)])  # context, the page, the count
    result = run_usage_query("org1", query, run)
    assert result.series == [] and result.total_series == 3
    assert run.statements[2].parameters["summaries"] == [(202603, 7)]  # counted as the page was read


def test_more_than_the_windows_cap_is_a_422_on_window_size() -> None:
    query = validate_usage_query(dict(RANGE))
    row: tuple[Any, ...] = ("m", "c", [], "sum", [], [], [], [], 1, 1, MAX_WINDOWS_PER_PAGE + 1)
    run = FakeRunner([], [row])  # configured rollups and current summaries, the page
    with pytest.raises(UsageValidationError) as caught:
        run_usage_query("org1", query, run)
    assert [d["path"] for d in caught.value.details] == ["window_size"]


def test_a_date_time_beyond_year_9999_in_utc_is_a_validation_error_not_a_crash() -> None:
    assert paths_of({"from": "9999-12-31T23:59:59-23:59", "to": "9999-12-31T23:59:59Z"}) == ["from"]


# --- monthly summaries -------------------------------------------------------------------------------------


def test_whole_utc_months_of_month_made_windows_over_many_customers_may_come_from_summaries() -> None:
    by_metric, by_customer = "usage_events_by_metric", "usage_events_by_customer"
    year = validate_usage_query(dict(RANGE))
    assert summary_months(year, by_metric) == list(range(202601, 202613))
    assert summary_months(year, by_customer) == []  # a few customers: their values are cheap to read
    partial = validate_usage_query({"from": "2026-01-15T00:00:00Z", "to": "2026-03-31T23:00:00Z"})
    assert summary_months(partial, by_metric) == [202602]  # only months wholly inside [from, to)
    for size in ("quarter", "year", "all"):
        assert summary_months(validate_usage_query({**RANGE, "window_size": size}), by_metric)
    assert summary_months(validate_usage_query({**RANGE, "window_size": "day"}), by_metric) == []
    hourly = {**RANGE, "granularity": "hourly"}
    assert summary_months(validate_usage_query(hourly), by_metric)
    assert summary_months(validate_usage_query({**hourly, "timezone": "Europe/Berlin"}), by_metric) == []
    grouped = validate_usage_query({**RANGE, "group_by": ["property:region"]})
    assert summary_months(grouped, by_metric) == list(range(202601, 202613))


def test_with_summaries_every_rollup_is_computed_from_partials() -> None:
    query = validate_usage_query({**RANGE, "metric_keys": ["a", "b"]})
    configured = {"a": Rollup.MAX, "b": Rollup.LAST}
    statement = rollup_page("o", query, None, configured, summaries=[(202601, 5), (202602, 9)])
    sql = statement.sql
    assert (
        "multiIf(rollup = 'max', max(part_max), rollup = 'last', argMax(part_last, part_last_period)" in sql
    )
    assert "sum(part_count) AS periods" in sql and "count()" not in sql.split("FROM (")[0]
    assert "FROM usage_monthly FINAL" in sql and "FROM usage_events_by_metric FINAL" in sql
    assert "toYYYYMM(period_start) NOT IN {summary_months:Array(UInt32)}" in sql
    assert statement.parameters["summaries"] == [(202601, 5), (202602, 9)]
    assert statement.parameters["summary_months"] == [202601, 202602]
    avg = rollup_page("o", validate_usage_query({**RANGE, "rollup": "avg"}), None, summaries=[(202601, 5)])
    assert "sum(part_sum) / sum(part_count)" in avg.sql  # a mean of the values, never of the months' means
    assert "usage_monthly" not in rollup_page("o", query, None, configured).sql
    every_month = [(month, 1) for month in range(202601, 202613)]
    covered = rollup_page("o", query, None, configured, summaries=every_month).sql
    assert "usage_events_by_metric" not in covered  # no value of the range lies outside the summaries
    by_region = validate_usage_query({**RANGE, "group_by": ["property:region"]})
    with_properties = rollup_page("o", by_region, None, summaries=[(202601, 5)]).sql
    assert "FROM usage_monthly_by_properties FINAL" in with_properties
    assert "period_start, properties, value AS part_sum" in with_properties


def test_summed_property_groups_add_up_the_summaries_per_properties_text_before_parsing() -> None:
    pre_grouped = "AS summary GROUP BY metric_key, period_start, properties"
    by_region = {**RANGE, "group_by": ["property:region"], "rollup": "sum"}
    summed = rollup_page("o", validate_usage_query(by_region), None, summaries=[(202601, 5)]).sql
    assert pre_grouped in summed and "sum(summary.part_sum) AS part_sum" in summed
    per_customer = [
        {**by_region, "rollup": "max"},  # max across customers needs each customer's max
        {**by_region, "group_by": ["customer", "property:region"]},
    ]
    for body in per_customer:
        sql = rollup_page("o", validate_usage_query(body), None, summaries=[(202601, 5)]).sql
        assert pre_grouped not in sql


def test_the_rollups_and_current_summaries_are_asked_in_one_statement_right_before_the_page() -> None:
    query = validate_usage_query({**RANGE, "metric_keys": ["a", "b"]})
    context_rows = [
        ("rollup", "a", "max", 0, 0),
        ("summary", "", "", 202602, 9),
        ("summary", "", "", 202601, 5),
    ]
    run = FakeRunner(context_rows, [])
    run_usage_query("org1", query, run)
    context, page = run.statements
    assert "metric_rollups_current" in context.sql and "system.parts" in context.sql
    assert "usage_monthly_refreshes" in context.sql and context.sql.count("UNION ALL") == 1
    assert context.parameters["months"] == list(range(202601, 202613))
    assert "metric_keys" not in context.parameters  # every rollup of the organization
    assert page.parameters["summaries"] == [(202601, 5), (202602, 9)]
    assert "max(part_max)" in page.sql  # metric a's configured rollup
    overridden = FakeRunner([], [])
    run_usage_query("org1", validate_usage_query({**RANGE, "rollup": "sum"}), overridden)
    assert "metric_rollups_current" not in overridden.statements[0].sql
    few = FakeRunner([])
    run_usage_query("org1", validate_usage_query({**RANGE, "rollup": "sum", "customer_ids": ["c"]}), few)
    assert len(few.statements) == 1 and "usage_monthly" not in few.statements[0].sql


class ShapeRunner:
    """Answers the context statement with ``context_rows`` and a page with a row naming the
    summaries it read; thread-safe (the context is read from another thread)."""

    def __init__(self, context_rows: list[tuple[Any, ...]]) -> None:
        self.context_rows = context_rows
        self.pages: list[Statement] = []
        self.contexts = 0
        self._lock = threading.Lock()

    def __call__(self, statement: Statement) -> Sequence[Sequence[Any]]:
        with self._lock:
            if "system.parts" in statement.sql:
                self.contexts += 1
                return list(self.context_rows)
            self.pages.append(statement)
        summaries = statement.parameters.get("summaries", [])
        return [("a", "", [], "sum", [0], [1], [float(len(summaries))], [1], 1, 1, 1)]


def test_a_page_starts_with_what_earlier_contexts_said_and_is_kept_only_if_that_still_holds() -> None:
    query = validate_usage_query({**RANGE, "metric_keys": ["a"]})
    contexts = RecentContexts()
    run = ShapeRunner([("rollup", "a", "max", 0, 0), ("summary", "", "", 202601, 5)])
    try:
        first = run_usage_query("org1", query, run, contexts=contexts)
        assert run.contexts == 1 and len(run.pages) == 1  # nothing known yet: context first
        again = run_usage_query("org1", query, run, contexts=contexts)
        assert run.contexts == 2 and len(run.pages) == 2  # the context is read every time
        assert again.to_json() == first.to_json()
        # What the organization's and the months' contexts said serves other metrics too.
        other = validate_usage_query({**RANGE, "metric_keys": ["b"]})
        run_usage_query("org1", other, run, contexts=contexts)
        assert len(run.pages) == 3 and run.pages[-1].parameters["summaries"] == [(202601, 5)]

        # A month summarized since: the page made with the earlier context still holds (that
        # month read from its values); the next query starts with both summaries.
        run.context_rows.append(("summary", "", "", 202602, 7))
        assert run_usage_query("org1", query, run, contexts=contexts).series[0].windows[0]["value"] == 1
        assert len(run.pages) == 4
        assert run_usage_query("org1", query, run, contexts=contexts).series[0].windows[0]["value"] == 2

        # A summary no longer current, or a rollup changed: the page is made again.
        run.context_rows[1:] = [("summary", "", "", 202601, 6), ("summary", "", "", 202602, 7)]
        result = run_usage_query("org1", query, run, contexts=contexts)
        assert len(run.pages) == 7 and run.pages[-1].parameters["summaries"] == [(202601, 6), (202602, 7)]
        assert result.series[0].windows[0]["value"] == 2
        run.context_rows[0] = ("rollup", "a", "min", 0, 0)
        run_usage_query("org1", query, run, contexts=contexts)
        assert len(run.pages) == 9 and "min(part_min)" in run.pages[-1].sql
        assert "max(part_max)" in run.pages[-2].sql

        # Another organization's rollups are not known yet: its context is read first.
        run_usage_query("org2", query, run, contexts=contexts)
        assert len(run.pages) == 10
    finally:
        contexts.close()


def test_recent_contexts_keep_the_latest_organizations() -> None:
    contexts = RecentContexts(organizations=2)
    learned = PageContext({"a": Rollup.MAX}, ((202601, 5),))
    try:
        for org in ("a", "b", "c"):
            contexts.learn(org, True, [202601, 202602], learned)
        assert contexts.guess("a", True, [202601]) is None
        assert contexts.guess("b", True, [202601, 202602]) == learned
        contexts.learn("d", True, [], learned)  # "b" was used more recently than "c"
        assert contexts.guess("c", True, []) is None and contexts.guess("b", True, []) is not None
        assert contexts.guess("a", False, [202602, 202603]) == PageContext({}, ())  # no rollups needed
    finally:
        contexts.close()


def test_whole_months_inside_inclusive_bounds() -> None:
    def seconds(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())

    assert whole_months(seconds("2026-01-01"), seconds("2026-12-31T23:59:59")) == list(range(202601, 202613))
    assert whole_months(seconds("2026-01-01T00:00:01"), seconds("2026-03-01")) == [202602]
    assert whole_months(seconds("2025-12-01"), seconds("2026-01-31T23:59:59")) == [202512, 202601]
    assert whole_months(seconds("2026-01-02"), seconds("2026-01-30")) == []
