from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from ingress.push.validation import ValidationFailed, validate_body


def body(*events: object) -> bytes:
    return orjson.dumps({"events": list(events)})


def event(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"external_customer_id": "ext-1", "metric_key": "api_calls", "value": 3}
    base.update(overrides)
    return base


def paths(raw: bytes) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as failed:
        validate_body(raw)
    return [(e.path, e.message) for e in failed.value.errors]


def test_defaults_and_unknown_fields_ignored() -> None:
    [valid] = validate_body(body(event(surprise={"x": 1})))
    assert valid.granularity == "daily"
    assert valid.event_type == "credit"
    assert valid.timestamp is None
    assert valid.properties == "{}"
    assert valid.value == 3.0


def test_offset_less_timestamp_is_utc_and_offsets_convert() -> None:
    [naive, offset] = validate_body(
        body(event(timestamp="2026-06-11T09:30:00"), event(timestamp="2026-06-11T01:30:00-08:00"))
    )
    assert naive.timestamp == datetime(2026, 6, 11, 9, 30, tzinfo=UTC)
    assert offset.timestamp == datetime(2026, 6, 11, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"events":[{"external_customer_id":"a","metric_key":"m","value":NaN}]}',
        b'{"events":[{"external_customer_id":"a","metric_key":"m","value":Infinity}]}',
        b'{"events":[{"external_customer_id":"a","metric_key":"m","value":-Infinity}]}',
        b'{"events":[{"external_customer_id":"a","metric_key":"m","value":1e400}]}',
        b'{"events":[{"external_customer_id":"a","metric_key":"m","value":true}]}',
        b'{"events":[{"external_customer_id":"a","metric_key":"m","value":"12"}]}',
        b'{"events":[{"external_customer_id":"a","metric_key":"m"}]}',
        b'{"events":[{"external_customer_id":"a","metric_key":"m","value":null}]}',
    ],
)
def test_value_must_be_a_finite_number(raw: bytes) -> None:
    assert [p for p, _ in paths(raw)] == ["events[0].value"]


def test_one_error_per_failing_field_with_exact_paths() -> None:
    raw = body(
        event(),
        event(),
        event(),
        event(
            external_customer_id="",
            metric_key="m" * 129,
            value=False,
            timestamp="yesterday",
            granularity="yearly",
            properties=[1],
            event_type="refund",
        ),
        "not an object",
    )
    assert [p for p, _ in paths(raw)] == [
        "events[3].external_customer_id",
        "events[3].metric_key",
        "events[3].value",
        "events[3].timestamp",
        "events[3].granularity",
        "events[3].properties",
        "events[3].event_type",
        "events[4]",
    ]


def test_string_length_limits_are_inclusive() -> None:
    validate_body(body(event(external_customer_id="x" * 255, metric_key="k" * 128)))
    assert [p for p, _ in paths(body(event(external_customer_id="x" * 256)))] == [
        "events[0].external_customer_id"
    ]


def test_properties_limit_is_4096_bytes_compact_utf8() -> None:
    # {"k":"..."} is 8 bytes of framing; "é" is 2 bytes in UTF-8.
    fits = {"k": "é" * 2044}
    assert len(orjson.dumps(fits)) == 4096
    [valid] = validate_body(body(event(properties=fits)))
    assert orjson.loads(valid.properties) == fits
    too_big = {"k": "é" * 2044 + "a"}
    assert [p for p, _ in paths(body(event(properties=too_big)))] == ["events[0].properties"]


def test_non_finite_number_inside_properties_is_rejected() -> None:
    raw = b'{"events":[{"external_customer_id":"a","metric_key":"m","value":1,"properties":{"x":NaN}}]}'
    assert [p for p, _ in paths(raw)] == ["events[0].properties"]


@pytest.mark.parametrize("count", [0, 1001])
def test_batch_size(count: int) -> None:
    assert [p for p, _ in paths(body(*[event()] * count))] == ["events"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,2", b"\xff\xfe", b'{"events": [}'])
def test_unparseable_body(raw: bytes) -> None:
    assert [p for p, _ in paths(raw)] == ["body"]


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"null"])
def test_body_must_be_an_object(raw: bytes) -> None:
    assert [p for p, _ in paths(raw)] == ["body"]


def test_events_missing_or_wrong_type() -> None:
    assert [p for p, _ in paths(b"{}")] == ["events"]
    assert [p for p, _ in paths(b'{"events": {}}')] == ["events"]


@pytest.mark.parametrize("stamp", ["2026-06-11", "1969-12-31T23:59:59Z", "2300-01-01T00:00:00Z", "12:00"])
def test_timestamp_needs_date_and_time_in_range(stamp: str) -> None:
    assert [p for p, _ in paths(body(event(timestamp=stamp)))] == ["events[0].timestamp"]


def test_null_optional_fields_take_defaults() -> None:
    [valid] = validate_body(body(event(timestamp=None, granularity=None, properties=None, event_type=None)))
    assert (valid.granularity, valid.event_type, valid.properties) == ("daily", "credit", "{}")


def test_lone_surrogates_are_rejected_at_their_field() -> None:
    raw = b'{"events":[{"external_customer_id":"a","metric_key":"\\ud800","value":1}]}'
    assert [p for p, _ in paths(raw)] == ["events[0].metric_key"]


def test_too_deep_properties_are_rejected() -> None:
    nested = b'{"a":' * 300 + b"1" + b"}" * 300
    raw = b'{"events":[{"external_customer_id":"a","metric_key":"m","value":1,"properties":' + nested + b"}]}"
    assert [p for p, _ in paths(raw)] == ["events[0].properties"]
