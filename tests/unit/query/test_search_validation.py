from __future__ import annotations

import orjson
import pytest

from core.records import canonical_text as canonical_json
from query.search import SearchRequest, SearchValidationError, parse_search_body


def paths(raw: bytes) -> list[str]:
    with pytest.raises(SearchValidationError) as caught:
        parse_search_body(raw)
    return [d["path"] for d in caught.value.details]


def test_defaults_for_empty_and_empty_object() -> None:
    assert parse_search_body(b"") == SearchRequest()
    assert parse_search_body(b"{}") == SearchRequest(limit=50, offset=0)


def test_full_request_is_parsed() -> None:
    parsed = parse_search_body(
        b'{"customer_id":"c","external_customer_id":"e","event_code":"m","event_type":"debit",'
        b'"created_at_from":"1970-01-01T00:00:00.25Z","created_at_to":"1970-01-01T01:00:00.5+01:00",'
        b'"event_property_filters":{"b":{"y":1,"x":[true,null]},"a":"200"},"limit":100,"offset":7}'
    )
    assert parsed.customer_id == "c" and parsed.external_customer_id == "e"
    assert parsed.event_code == "m" and parsed.event_type == "debit"
    assert parsed.created_at_from_us == 250_000
    assert parsed.created_at_to_us == 500_000  # 01:00:00.5+01:00 is 00:00:00.5 UTC
    assert [(f.key, f.canonical_value) for f in parsed.property_filters] == [
        ("b", '{"x":[true,null],"y":1}'),
        ("a", '"200"'),
    ]
    assert (parsed.limit, parsed.offset) == (100, 7)


def test_offsetless_timestamp_is_utc_and_pre_epoch_works() -> None:
    assert parse_search_body(b'{"created_at_from":"1970-01-01T00:00:02"}').created_at_from_us == 2_000_000
    assert parse_search_body(b'{"created_at_from":"1969-12-31T23:59:59.5Z"}').created_at_from_us == -500_000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{", ["body"]),
        (b"[]", ["body"]),
        (b'"x"', ["body"]),
        (b'{"limit":0}', ["limit"]),
        (b'{"limit":101}', ["limit"]),
        (b'{"limit":1.0}', ["limit"]),
        (b'{"limit":false}', ["limit"]),
        (b'{"offset":-1}', ["offset"]),
        (b'{"event_type":"CREDIT"}', ["event_type"]),
        (b'{"created_at_from":"2026-06-11"}', ["created_at_from"]),
        (b'{"created_at_to":12}', ["created_at_to"]),
        (
            b'{"created_at_from":"2026-06-02T00:00:00Z","created_at_to":"2026-06-01T00:00:00Z"}',
            ["created_at_to"],
        ),
        (b'{"event_code":""}', ["event_code"]),
        (b'{"event_property_filters":[]}', ["event_property_filters"]),
        (b'{"limit":500,"offset":-1,"event_type":1}', ["event_type", "limit", "offset"]),
    ],
)
def test_invalid_fields_report_their_paths(raw: bytes, expected: list[str]) -> None:
    assert paths(raw) == expected


def test_nulls_and_unknown_fields_are_ignored() -> None:
    assert parse_search_body(b'{"customer_id":null,"limit":null,"whatever":1}') == SearchRequest()


def test_limit_boundaries_are_accepted() -> None:
    assert parse_search_body(b'{"limit":1}').limit == 1
    assert parse_search_body(b'{"limit":100}').limit == 100


def test_canonical_json_sorts_keys_and_keeps_types() -> None:
    assert (
        canonical_json({"b": 1, "a": [200, "200", 2.5, None, True]})
        == '{"a":[200,"200",2.5,null,true],"b":1}'
    )


def test_needles_are_substrings_of_every_canonical_match() -> None:
    from core.records import canonical_properties

    cases = [
        ("s", "r1"),
        ('q"\\', 'v"\\é'),
        ("b", True),
        ("n", None),
        ("i", 200),
        ("o", {"z": [1.5], "a": "x"}),
    ]
    for key, value in cases:
        parsed = parse_search_body(canonical_json({"event_property_filters": {key: value}}).encode())
        stored = canonical_properties({"other": 1, key: value, "zz": "y"})
        assert parsed.property_filters[0].needle in stored
    number = parse_search_body(b'{"event_property_filters":{"i":200}}').property_filters[0]
    assert number.needle == '"i":'  # 200 may be stored as 200.0
    assert parse_search_body(b'{"event_property_filters":{"s":"x"}}').property_filters[0].needle == '"s":"x"'


@pytest.mark.parametrize("field", ["created_at_from", "created_at_to"])
def test_a_date_time_beyond_year_9999_in_utc_is_a_validation_error(field: str) -> None:
    with pytest.raises(SearchValidationError) as failed:
        parse_search_body(orjson.dumps({field: "9999-12-31T23:59:59-23:59"}))
    assert [d["path"] for d in failed.value.details] == [field]


def test_ranges_beyond_what_created_at_holds_are_moved_just_outside_it() -> None:
    request = parse_search_body(
        b'{"created_at_from":"0001-01-02T00:00:00+23:59","created_at_to":"9999-12-31T23:59:59Z"}'
    )
    assert request.created_at_from_us == -2_208_988_800_000_001  # 1899-12-31T23:59:59.999999Z
    assert request.created_at_to_us == 10_413_792_000_000_000  # 2300-01-01T00:00:00Z


def test_property_filters_nested_deeper_than_json_encoders_go_are_a_validation_error() -> None:
    deep = b"[" * 300 + b"]" * 300
    with pytest.raises(SearchValidationError) as failed:
        parse_search_body(b'{"event_property_filters":{"a":' + deep + b"}}")
    assert [d["path"] for d in failed.value.details] == ["event_property_filters"]
