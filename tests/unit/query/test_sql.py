from __future__ import annotations

from query import sql
from query.search import parse_search_body

HOSTILE = "x'} OR 1=1 -- {org_id:String} \\ \" `"


def test_every_value_is_a_bound_parameter() -> None:
    import orjson

    request = parse_search_body(
        orjson.dumps(
            {
                "customer_id": HOSTILE,
                "external_customer_id": HOSTILE,
                "event_code": HOSTILE[:100],
                "event_type": "credit",
                "created_at_from": "2026-01-01T00:00:00Z",
                "created_at_to": "2026-01-02T00:00:00Z",
                "event_property_filters": {HOSTILE: HOSTILE},
                "limit": 5,
                "offset": 10,
            }
        )
    )
    for statement in (sql.search_page("org", request), sql.count_matches("org", request)):
        assert "OR 1=1" not in statement.sql
        assert "'" not in statement.sql.replace("'UTC'", "").replace("'v'", "")
        assert statement.parameters["org_id"] == "org"
        assert statement.parameters["customer_id"] == HOSTILE
        assert statement.parameters["pk0"] == HOSTILE
        assert statement.parameters["pv0"] == '{"v":' + sql_json(HOSTILE) + "}"
    page = sql.search_page("org", request)
    assert page.parameters["limit"] == 5 and page.parameters["offset"] == 10
    assert "ORDER BY created_at, toUInt128(event_id)" in page.sql


def sql_json(text: str) -> str:
    import orjson

    return orjson.dumps(text).decode()


def test_mutable_columns_are_filtered_after_final() -> None:
    request = parse_search_body(
        b'{"customer_id":"c","event_code":"m","event_type":"debit","created_at_from":"2026-01-01T00:00:00Z",'
        b'"event_property_filters":{"a":1}}'
    )
    text = sql.search_page("org", request).sql
    inner_start = text.index("FROM usage_events_by_customer FINAL")
    inner_end = text.index(")", inner_start)
    inner_where = text[inner_start:inner_end]
    assert "customer_id = {customer_id:String}" in inner_where
    assert "metric_key = {event_code:String}" in inner_where
    for mutable in ("event_type =", "created_at >=", "JSONExtractRaw(properties"):
        assert mutable not in inner_where.split("WHERE", 1)[1]
        assert mutable in text


def test_customer_searches_read_the_customer_ordered_copy() -> None:
    for body in (b'{"customer_id":"c"}', b'{"external_customer_id":"e","event_code":"m"}'):
        assert "FROM usage_events_by_customer FINAL" in sql.search_page("org", parse_search_body(body)).sql
    for body in (b"{}", b'{"event_code":"m","created_at_from":"2026-01-01T00:00:00Z"}'):
        page = sql.search_page("org", parse_search_body(body)).sql
        assert "FROM usage_events_by_period FINAL" in page and "usage_events_by_customer" not in page


def test_page_carries_the_total_as_a_window_count() -> None:
    page = sql.search_page("org", parse_search_body(b'{"event_type":"credit"}'))
    assert "count() OVER () AS total" in page.sql
    assert page.sql.index("count() OVER ()") < page.sql.index("ORDER BY created_at")


def test_two_step_statements_bind_every_value() -> None:
    request = parse_search_body(b'{"event_property_filters":{"a":1},"event_type":"debit","offset":3}')
    page = sql.page_of_matches("org", request)
    assert "OVER ()" not in page.sql  # the total comes from the day counts
    assert "FROM usage_events_by_period FINAL" in page.sql and "ORDER BY created_at" in page.sql
    assert (
        page.parameters["offset"] == 3
        and page.parameters["org_id"] == "org"
        and page.parameters["pk0"] == "a"
    )
    counts = sql.day_counts("org", request, ["202601"])
    assert (
        "_partition_id IN {partitions:Array(String)}" in counts.sql
        and "FROM usage_events FINAL" in counts.sql
    )
    assert counts.parameters["partitions"] == ["202601"]
    profiles = sql.partition_profiles("org", ["202601"], 11)
    assert (
        "FROM usage_events FINAL" in profiles.sql
        and "LIMIT {max_keys:UInt64} BY partition_id" in profiles.sql
    )
    assert profiles.parameters == {"org_id": "org", "partitions": ["202601"], "max_keys": 11}
    matching = sql.matching_property_sets("org", request)
    assert "FROM usage_property_sets WHERE org_id = {org_id:String}" in matching.sql
    assert matching.parameters["pk0"] == "a" and matching.parameters["pv0"] == '{"v":1}'


def test_no_filters_reads_only_the_org() -> None:
    statement = sql.count_matches("org", parse_search_body(b"{}"))
    assert statement.parameters == {"org_id": "org"}
    assert statement.sql.startswith("SELECT count() FROM (")


def test_fetch_and_auth_statements() -> None:
    fetch = sql.fetch_event("org", "00000000-0000-0000-0000-000000000001")
    assert fetch.sql.endswith("ORDER BY version DESC LIMIT 1 SETTINGS max_threads = 1")
    locate = "FROM usage_event_locator WHERE org_id = {org_id:String} AND event_id = {event_id:UUID}"
    assert locate in fetch.sql
    assert fetch.parameters == {"org_id": "org", "event_id": "00000000-0000-0000-0000-000000000001"}
    auth = sql.current_key_hashes()
    assert "argMax(key_hash, version)" in auth.sql and "GROUP BY org_id" in auth.sql


def test_time_range_prunes_periods_inside_the_final_query() -> None:
    request = parse_search_body(
        b'{"created_at_from":"2026-01-01T12:30:00Z","created_at_to":"2026-02-01T00:00:00Z"}'
    )
    statement = sql.search_page("org", request)
    inner = statement.sql[statement.sql.index("FROM usage_events_by_period FINAL") :]
    for index in range(4):
        granularity = f"(granularity = {{granularity{index}:String}} AND "
        assert granularity + f"period_start >= toDateTime({{earliest{index}:Int64}}, 'UTC'))" in inner
    earliest_by_granularity = {
        statement.parameters[f"granularity{index}"]: statement.parameters[f"earliest{index}"]
        for index in range(4)
    }
    assert earliest_by_granularity == {
        "hourly": 1767270600 - 1800,  # 2026-01-01T12:00:00Z
        "daily": 1767225600,  # 2026-01-01
        "weekly": 1767225600 - 3 * 86400,  # Monday 2025-12-29
        "monthly": 1767225600,  # 2026-01-01
    }
    assert "period_start <= fromUnixTimestamp64Micro({created_at_to:Int64}, 'UTC')" in inner


def test_earliest_periods_stay_in_the_range_of_datetime() -> None:
    for moment, bound in ((b"0001-01-01T00:00:00Z", 0), (b"9999-12-31T00:00:00Z", sql.MAX_DATETIME)):
        request = parse_search_body(b'{"created_at_from":"' + moment + b'"}')
        assert sql.search_page("org", request).parameters["earliest0"] == bound
