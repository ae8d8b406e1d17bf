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
    for statement in (sql.search_page("org", request), sql.search_total("org", request)):
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
        assert "FROM usage_events FINAL" in page and "usage_events_by_customer" not in page


def test_page_carries_the_total_as_a_window_count() -> None:
    page = sql.search_page("org", parse_search_body(b'{"event_type":"credit"}'))
    assert "count() OVER () AS total" in page.sql
    assert page.sql.index("count() OVER ()") < page.sql.index("ORDER BY created_at")


def test_two_step_statements_bind_every_value() -> None:
    request = parse_search_body(b'{"event_property_filters":{"a":1},"event_type":"debit","offset":3}')
    keys = sql.search_keys("org", request)
    assert keys.sql.startswith("SELECT event_id, version, period_start FROM (")
    assert "OVER ()" not in keys.sql  # the total comes from the day counts
    assert "properties" in keys.sql and keys.parameters["offset"] == 3 and keys.parameters["org_id"] == "org"
    assert "properties" not in sql.search_keys("org", parse_search_body(b"{}")).sql
    fetch = sql.events_by_ids("org", ["id"], [])
    assert "{event_ids:Array(UUID)}" in fetch.sql and "{periods:Array(DateTime('UTC'))}" in fetch.sql
    assert fetch.parameters == {"org_id": "org", "periods": [], "event_ids": ["id"]}
    counts = sql.day_counts("org", request, ["202601"])
    assert "_partition_id IN {partitions:Array(String)}" in counts.sql
    assert counts.parameters["partitions"] == ["202601"]


def test_bounded_searches_are_one_step() -> None:
    assert sql.is_bounded(parse_search_body(b'{"external_customer_id":"e"}'))
    closed = b'{"created_at_from":"2026-01-01T00:00:00Z","created_at_to":"2026-01-02T00:00:00Z"}'
    assert sql.is_bounded(parse_search_body(closed))
    assert not sql.is_bounded(parse_search_body(b'{"created_at_from":"2026-01-01T00:00:00Z"}'))
    assert not sql.is_bounded(parse_search_body(b'{"event_code":"m"}'))


def test_no_filters_reads_only_the_org() -> None:
    statement = sql.search_total("org", parse_search_body(b"{}"))
    assert statement.parameters == {"org_id": "org"}
    assert statement.sql.startswith("SELECT count() FROM (")


def test_fetch_and_auth_statements() -> None:
    fetch = sql.fetch_event("org", "00000000-0000-0000-0000-000000000001")
    assert fetch.sql.endswith("ORDER BY version DESC LIMIT 1 SETTINGS max_threads = 1")
    locate = "FROM usage_event_locator WHERE org_id = {org_id:String} AND event_id = {event_id:UUID}"
    assert locate in fetch.sql
    assert fetch.parameters == {"org_id": "org", "event_id": "00000000-0000-0000-0000-000000000001"}
    auth = sql.org_for_key_hash("abc")
    assert "argMax(key_hash, version)" in auth.sql and auth.parameters == {"key_hash": "abc"}


def test_time_range_prunes_periods_inside_the_final_query() -> None:
    request = parse_search_body(
        b'{"created_at_from":"2026-01-01T00:00:00Z","created_at_to":"2026-02-01T00:00:00Z"}'
    )
    text = sql.search_page("org", request).sql
    inner = text[text.index("FROM usage_events FINAL") :]
    earliest = "fromUnixTimestamp64Micro({created_at_from:Int64}, 'UTC')"
    assert (
        f"period_start >= toDateTime(least(toStartOfMonth({earliest}), toMonday({earliest})), 'UTC')" in inner
    )
    assert "period_start <= fromUnixTimestamp64Micro({created_at_to:Int64}, 'UTC')" in inner
