"""The storage bounds in ``core.storage_bounds`` match the ClickHouse column types exactly, and
ingress validation uses them: the first and last accepted moment of every granularity is storable,
one microsecond beyond is refused (422 at the field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from core.periods import Granularity, period_start
from core.storage_bounds import (
    DATETIME_MAX,
    DATETIME_MIN,
    MICROSECOND,
    PROPERTIES_MAX_DEPTH,
    PROPERTY_INT_MAX,
    PROPERTY_INT_MIN,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    json_number,
    properties_depth,
    storable_period,
    storable_timestamp,
)
from ingress.push.validation import ValidationFailed, validate_body

GRANULARITIES = [g.value for g in Granularity]


def test_datetime_bounds_are_clickhouse_datetime() -> None:
    # DateTime is seconds since the epoch as UInt32.
    assert DATETIME_MIN.timestamp() == 0
    assert DATETIME_MAX.timestamp() == 2**32 - 1


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_accepted_range_is_exactly_the_storable_one_at_the_low_end(granularity: str) -> None:
    earliest = TIMESTAMP_MIN[granularity]
    assert storable_timestamp(earliest, granularity) and storable_period(earliest, granularity)
    before = earliest - MICROSECOND
    assert not storable_timestamp(before, granularity)
    assert period_start(before, Granularity(granularity)) < DATETIME_MIN


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_accepted_range_ends_where_the_timestamp_leaves_datetime(granularity: str) -> None:
    assert storable_timestamp(TIMESTAMP_MAX, granularity) and storable_period(TIMESTAMP_MAX, granularity)
    assert not storable_timestamp(TIMESTAMP_MAX + MICROSECOND, granularity)
    assert TIMESTAMP_MAX == DATETIME_MAX


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_every_accepted_day_near_the_ends_is_storable(granularity: str) -> None:
    for start in (datetime(1969, 12, 20, tzinfo=UTC), datetime(2106, 1, 25, tzinfo=UTC)):
        for hours in range(0, 24 * 20, 5):
            moment = start + timedelta(hours=hours, microseconds=hours)
            if storable_timestamp(moment, granularity):
                assert storable_period(moment, granularity), (moment, granularity)


def _body(**fields: object) -> bytes:
    event = {"external_customer_id": "e", "metric_key": "m", "value": 1, **fields}
    return orjson.dumps({"events": [event]})


def _failing_paths(raw: bytes) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        validate_body(raw)
    return [error.path for error in failed.value.errors]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_validation_accepts_both_ends_and_refuses_one_microsecond_beyond(granularity: str) -> None:
    for moment in (TIMESTAMP_MIN[granularity], TIMESTAMP_MAX):
        [valid] = validate_body(_body(timestamp=_stamp(moment), granularity=granularity))
        assert valid.timestamp == moment
    for moment in (TIMESTAMP_MIN[granularity] - MICROSECOND, TIMESTAMP_MAX + MICROSECOND):
        assert _failing_paths(_body(timestamp=_stamp(moment), granularity=granularity)) == [
            "events[0].timestamp"
        ]


def test_issue_examples_are_refused_at_the_field() -> None:
    assert _failing_paths(_body(timestamp="2150-01-01T00:00:00Z")) == ["events[0].timestamp"]
    for day in range(1, 5):
        raw = _body(timestamp=f"1970-01-0{day}T12:00:00Z", granularity="weekly")
        assert _failing_paths(raw) == ["events[0].timestamp"]
    # Odd offsets are converted before the check: this is 2106-02-07T06:29:15Z.
    assert _failing_paths(_body(timestamp="2106-02-07T07:29:15+01:00")) == ["events[0].timestamp"]
    [valid] = validate_body(_body(timestamp="1970-01-01T01:00:00+01:00", granularity="monthly"))
    assert valid.timestamp == DATETIME_MIN


def _nested(depth: int) -> dict[str, object]:
    node: dict[str, object] = {}
    for _ in range(depth - 1):
        node = {"a": node}
    return node


def test_properties_depth_limit_is_exact() -> None:
    assert properties_depth({}) == 1 and properties_depth({"a": [1, {"b": []}]}) == 4
    assert properties_depth(_nested(PROPERTIES_MAX_DEPTH)) == PROPERTIES_MAX_DEPTH
    [valid] = validate_body(_body(properties=_nested(PROPERTIES_MAX_DEPTH)))
    assert orjson.loads(valid.properties) == _nested(PROPERTIES_MAX_DEPTH)
    too_deep = _nested(PROPERTIES_MAX_DEPTH + 1)
    assert _failing_paths(_body(properties=too_deep)) == ["events[0].properties"]
    lists: object = 1
    for _ in range(PROPERTIES_MAX_DEPTH):
        lists = [lists]
    assert _failing_paths(_body(properties={"l": lists})) == ["events[0].properties"]


def test_what_the_lenient_parser_reads_is_refused_for_the_same_reasons() -> None:
    # NaN elsewhere sends the body to the standard-library parser, which keeps any integer.
    too_big = b'{"events":[{"external_customer_id":"e","metric_key":"m","value":NaN,'
    raw = too_big + b'"properties":{"a":{"b":[1,18446744073709551616]}}}]}'
    with pytest.raises(ValidationFailed) as failed:
        validate_body(raw)
    assert [e.path for e in failed.value.errors] == ["events[0].value", "events[0].properties.a.b[1]"]


@pytest.mark.parametrize("number", [PROPERTY_INT_MAX + 1, PROPERTY_INT_MIN - 1, 10**30, -(10**25)])
def test_integers_beyond_64_bits_in_properties_are_refused_at_their_path(number: int) -> None:
    raw = b'{"events":[{"external_customer_id":"e","metric_key":"m","value":1,"properties":{"x":"e+",'
    raw += b'"deep":{"list":[0,' + str(number).encode() + b"]}}}]}"
    assert _failing_paths(raw) == ["events[0].properties.deep.list[1]"]


@pytest.mark.parametrize("number", [PROPERTY_INT_MAX, PROPERTY_INT_MIN, 2**53 + 1, -(2**63) + 1])
def test_integers_within_64_bits_are_kept_exactly(number: int) -> None:
    raw = b'{"events":[{"external_customer_id":"e","metric_key":"m","value":1,"properties":{"n":'
    [valid] = validate_body(raw + str(number).encode() + b"}}]}")
    assert orjson.loads(valid.properties) == {"n": number}


@pytest.mark.parametrize("number", [b"1e20", b"-1.8446744073709552e19", b"2e300", b"1e-300"])
def test_large_floats_in_properties_are_floats_and_accepted(number: bytes) -> None:
    raw = b'{"events":[{"external_customer_id":"e","metric_key":"m","value":1,"properties":{"n":'
    [valid] = validate_body(raw + number + b"}}]}")
    assert orjson.loads(valid.properties) == {"n": float(number)}


@pytest.mark.parametrize(
    "value", [1e20, -1e20, 2.0**64, 2.0**63, -(2.0**63), 1.7976931348623157e308, 5e-324, 300.0, 0.1]
)
def test_every_stored_value_encodes_as_json_and_reads_back(value: float) -> None:
    assert orjson.loads(orjson.dumps({"value": json_number(value)}))["value"] == value
