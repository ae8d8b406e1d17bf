from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.api_keys import API_KEY_PREFIX, generate_api_key, hash_api_key, hashes_match, looks_like_api_key
from core.periods import Granularity, format_utc, period_start
from core.records import RecordError, ReplaceKey, UsageRecord, canonical_properties


@pytest.mark.parametrize(
    ("moment", "granularity", "expected"),
    [
        (
            datetime(2026, 6, 11, 9, 30, 15, tzinfo=UTC),
            Granularity.HOURLY,
            datetime(2026, 6, 11, 9, tzinfo=UTC),
        ),
        (datetime(2026, 6, 11, 9, 30, tzinfo=UTC), Granularity.DAILY, datetime(2026, 6, 11, tzinfo=UTC)),
        # 2026-06-11 is a Thursday: its ISO week starts Monday 2026-06-08.
        (datetime(2026, 6, 11, 9, 30, tzinfo=UTC), Granularity.WEEKLY, datetime(2026, 6, 8, tzinfo=UTC)),
        (datetime(2026, 6, 8, 0, 0, tzinfo=UTC), Granularity.WEEKLY, datetime(2026, 6, 8, tzinfo=UTC)),
        (datetime(2026, 6, 7, 23, 59, tzinfo=UTC), Granularity.WEEKLY, datetime(2026, 6, 1, tzinfo=UTC)),
        (datetime(2026, 6, 11, 9, 30, tzinfo=UTC), Granularity.MONTHLY, datetime(2026, 6, 1, tzinfo=UTC)),
        # Offsets are converted to UTC before bucketing; naive values are UTC.
        (
            datetime(2026, 7, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            Granularity.MONTHLY,
            datetime(2026, 6, 1, tzinfo=UTC),
        ),
        (datetime(2026, 6, 11, 23, 59), Granularity.DAILY, datetime(2026, 6, 11, tzinfo=UTC)),
    ],
)
def test_period_start(moment: datetime, granularity: Granularity, expected: datetime) -> None:
    assert period_start(moment, granularity) == expected


def test_format_utc_uses_z_suffix() -> None:
    assert format_utc(datetime(2026, 6, 11, tzinfo=UTC)) == "2026-06-11T00:00:00Z"
    assert format_utc(datetime(2026, 6, 11, 0, 0, 0, 5, tzinfo=UTC)) == "2026-06-11T00:00:00.000005Z"


def _record(**changes: object) -> UsageRecord:
    fields: dict[str, object] = {
        "org_id": "org_1",
        "customer_id": "pied|piper",
        "external_customer_id": "0015g00000ABC",
        "metric_key": "api_calls",
        "granularity": "daily",
        "period_start": "2026-06-11T00:00:00Z",
        "value": 300.0,
        "event_type": "credit",
        "created_at_us": 1_781_170_200_000_000,
        "ingested_at_us": 1_781_170_201_000_000,
        "properties": '{"region":"us-west-1"}',
    }
    fields.update(changes)
    return UsageRecord(**fields)  # type: ignore[arg-type]


def test_record_round_trips() -> None:
    record = _record()
    assert UsageRecord.from_bytes(record.to_bytes()) == record
    assert ReplaceKey.from_bytes(record.key.to_bytes()) == record.key


def test_event_id_is_stable_per_key_and_ignores_value() -> None:
    assert _record().event_id == _record(value=1.0, external_customer_id="other").event_id
    assert _record().event_id != _record(granularity="hourly").event_id
    # A separator inside an ID cannot make two different keys collide.
    assert (
        _record(customer_id="a|b", metric_key="c").event_id
        != _record(customer_id="a", metric_key="b|c").event_id
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1]",
        b'{"v": 2}',
        b'{"v": 1, "org_id": "x"}',
        _record().to_bytes().replace(b"300.0", b"true"),
    ],
)
def test_bad_records_are_refused(raw: bytes) -> None:
    with pytest.raises(RecordError):
        UsageRecord.from_bytes(raw)


def test_canonical_properties_sorts_keys_and_keeps_types() -> None:
    assert canonical_properties({"b": "200", "a": 200, "n": None}) == '{"a":200,"b":"200","n":null}'
    assert canonical_properties(None) == "{}"


def test_api_keys_are_prefixed_random_and_hashed() -> None:
    first, second = generate_api_key(), generate_api_key()
    assert first.startswith(API_KEY_PREFIX) and first != second
    assert looks_like_api_key(first)
    assert hash_api_key(first) != first and len(hash_api_key(first)) == 64
    assert hashes_match(hash_api_key(first), hash_api_key(first))
    assert not hashes_match(hash_api_key(first), hash_api_key(second))


def test_one_encoder_of_the_wire_format() -> None:
    from core.records import UsageRecord, event_id_digest, record_bytes, replace_key_bytes

    fields = {
        "org_id": "o",
        "customer_id": "c",
        "external_customer_id": "x",
        "metric_key": "m",
        "granularity": "daily",
        "period_start": "2026-06-11T00:00:00Z",
        "value": 1.5,
        "event_type": "credit",
        "created_at_us": 1,
        "ingested_at_us": 2,
        "properties": '{"a":1}',
    }
    record = UsageRecord(**fields)  # type: ignore[arg-type]
    assert record_bytes(**fields) == record.to_bytes()  # type: ignore[arg-type]
    assert UsageRecord.from_bytes(record.to_bytes()) == record
    key = replace_key_bytes("o", "c", "m", "daily", "2026-06-11T00:00:00Z")
    assert key == record.key.to_bytes()
    assert event_id_digest(key).hex() == record.event_id.replace("-", "")


def test_one_timestamp_formatter_and_epoch_micros() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from core.periods import epoch_micros, format_utc

    moment = datetime(2026, 6, 11, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    assert format_utc(moment) == "2026-06-11T09:30:00Z"
    assert format_utc(moment, milliseconds=True) == "2026-06-11T09:30:00.000Z"
    assert format_utc(moment.replace(microsecond=5)) == "2026-06-11T09:30:00.000005Z"
    assert epoch_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    assert epoch_micros(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)) == -1_000_000
