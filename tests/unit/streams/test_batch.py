"""Planning a batch: rows, states, replays and dead letters, without a broker or ClickHouse."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.records import UsageRecord
from streams.backoff import backoff_delays
from streams.batch import Incoming, key_bytes, plan_batch
from streams.guards import partition_problems
from streams.rows import COLUMNS, event_id_int, to_columns
from streams.versioning import KeyState

T0 = 1_780_000_000_000_000


def usage(
    value: float, ingested: int, granularity: str = "daily", period: str = "2026-11-20T00:00:00Z"
) -> UsageRecord:
    return UsageRecord(
        "o", "c", "ext", "m", granularity, period, value, "credit", ingested - 5, ingested, "{}"
    )


def incoming(record: UsageRecord, offset: int, partition: int = 0) -> Incoming:
    return Incoming(record.key.to_bytes(), record.to_bytes(), partition, offset)


def column(row: tuple[object, ...], name: str) -> object:
    return row[COLUMNS.index(name)]


def test_every_write_is_a_row_and_the_last_write_per_key_is_its_state() -> None:
    a1, a2, b = usage(1, T0), usage(5, T0 + 1), usage(9, T0 + 2, granularity="hourly")
    plan = plan_batch([incoming(a1, 0), incoming(a2, 1), incoming(b, 2)], {})
    assert [column(r, "value") for r in plan.rows] == [1.0, 5.0, 9.0]
    assert {k: s.offset for k, (s, _) in plan.states.items()} == {a1.key.to_bytes(): 1, b.key.to_bytes(): 2}
    row = plan.rows[1]
    # The latest write of a key has its highest version: usage_events (ReplacingMergeTree) keeps it.
    assert (column(plan.rows[0], "version"), column(row, "version")) == (T0, T0 + 1)
    assert column(row, "source_offset") == 1
    # Plain ints that clickhouse-connect writes as is: UUID, DateTime (s), DateTime64(6) (us).
    assert column(row, "event_id") == uuid.UUID(a2.event_id).int
    assert column(row, "period_start") == int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
    assert column(row, "ingested_at") == T0 + 1 and column(row, "created_at") == T0 + 1 - 5


def test_event_id_from_key_bytes_equals_the_records_event_id() -> None:
    record = usage(1, T0, period="2026-11-21T00:00:00Z")
    assert event_id_int(record.key.to_bytes()) == uuid.UUID(record.event_id).int


def test_key_bytes_equal_the_replace_keys_bytes() -> None:
    record = UsageRecord("\u00e9", 'c"1', "e", "m", "daily", "2026-11-21T00:00:00Z", 1.0, "debit", 1, 2, "{}")
    assert key_bytes(record) == record.key.to_bytes()


def test_rows_transpose_into_columns() -> None:
    plan = plan_batch([incoming(usage(v, T0 + v), o) for o, v in enumerate([3, 1])], {})
    columns = to_columns(plan.rows)
    assert len(columns) == len(COLUMNS)
    assert columns[COLUMNS.index("value")] == (3.0, 1.0)


def test_replays_against_stored_state_produce_nothing() -> None:
    a = usage(1, T0)
    stored = {a.key.to_bytes(): KeyState(T0, 0, 3, T0)}
    plan = plan_batch([incoming(a, 3)], stored)
    assert plan.replays == 1 and not plan.rows and not plan.states


def test_same_batch_replanned_gives_identical_rows() -> None:
    items = [incoming(usage(v, T0 + v), o) for o, v in enumerate([3, 1, 2])]
    assert plan_batch(items, {}).rows == plan_batch(items, {}).rows


def test_poison_records_become_dead_letters_and_the_rest_goes_on() -> None:
    good = usage(2, T0)
    other_key = usage(1, T0, period="2026-11-21T00:00:00Z").key.to_bytes()
    items = [
        Incoming(b"[]", b"not json", 0, 0),
        Incoming(other_key, good.to_bytes(), 0, 1),  # key does not match the record
        Incoming(good.key.to_bytes(), None, 0, 2),
        Incoming(good.key.to_bytes(), usage(1, T0, period="yesterday").to_bytes(), 0, 3),
        incoming(good, 4),
    ]
    plan = plan_batch(items, {})
    assert [d.index for d in plan.dead_letters] == [0, 1, 2, 3]
    assert all(d.reason for d in plan.dead_letters)
    assert [column(r, "value") for r in plan.rows] == [2.0]


def test_backoff_grows_and_is_capped() -> None:
    delays = backoff_delays(0.5, 3.0)
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_partition_count_problems() -> None:
    assert partition_problems({"u": 3, "u-cl": 3}, "u", "u-cl", 3) == []
    assert len(partition_problems({"u": 6, "u-cl": 3}, "u", "u-cl", 3)) == 1
    assert len(partition_problems({"u": 6, "u-cl": 6}, "u", "u-cl", 3)) == 2
    assert partition_problems({"u": 3}, "u", "u-cl", 3) == []


def test_a_key_in_another_encoding_is_a_dead_letter_not_a_second_state() -> None:
    first, second = usage(1, T0), usage(2, T0 + 1)
    spaced = second.key.to_bytes().replace(b",", b", ")  # the same replace key, other bytes
    assert spaced != second.key.to_bytes()
    plan = plan_batch([incoming(first, 0), Incoming(spaced, second.to_bytes(), 0, 1)], {})
    assert list(plan.states) == [first.key.to_bytes()]
    assert [column(r, "value") for r in plan.rows] == [1.0]
    assert [(d.index, "canonical" in d.reason) for d in plan.dead_letters] == [(1, True)]
