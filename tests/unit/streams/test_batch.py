"""Planning a batch: rows, states, replays and dead letters, without a broker or ClickHouse."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.records import UsageRecord
from streams.backoff import backoff_delays
from streams.batch import Incoming, plan_batch
from streams.guards import partition_problems
from streams.rows import COLUMNS
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


def test_last_write_per_key_is_the_current_row_and_every_write_is_history() -> None:
    a1, a2, b = usage(1, T0), usage(5, T0 + 1), usage(9, T0 + 2, granularity="hourly")
    plan = plan_batch([incoming(a1, 0), incoming(a2, 1), incoming(b, 2)], {})
    assert len(plan.history_rows) == 3
    assert sorted(column(r, "value") for r in plan.current_rows) == [5.0, 9.0]
    assert {k: s.offset for k, (s, _) in plan.states.items()} == {a1.key.to_bytes(): 1, b.key.to_bytes(): 2}
    row = next(r for r in plan.current_rows if column(r, "value") == 5.0)
    assert column(row, "event_id") == uuid.UUID(a2.event_id)
    assert column(row, "period_start") == datetime(2026, 11, 20, tzinfo=UTC)
    assert column(row, "version") == T0 + 1 and column(row, "source_offset") == 1


def test_replays_against_stored_state_produce_nothing() -> None:
    a = usage(1, T0)
    stored = {a.key.to_bytes(): KeyState(T0, 0, 3, T0)}
    plan = plan_batch([incoming(a, 3)], stored)
    assert plan.replays == 1 and not plan.history_rows and not plan.states


def test_same_batch_replanned_gives_identical_rows() -> None:
    items = [incoming(usage(v, T0 + v), o) for o, v in enumerate([3, 1, 2])]
    assert plan_batch(items, {}).history_rows == plan_batch(items, {}).history_rows


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
    assert [column(r, "value") for r in plan.current_rows] == [2.0]


def test_backoff_grows_and_is_capped() -> None:
    delays = backoff_delays(0.5, 3.0)
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_partition_count_problems() -> None:
    assert partition_problems({"u": 3, "u-cl": 3}, "u", "u-cl", 3) == []
    assert len(partition_problems({"u": 6, "u-cl": 3}, "u", "u-cl", 3)) == 1
    assert len(partition_problems({"u": 6, "u-cl": 6}, "u", "u-cl", 3)) == 2
    assert partition_problems({"u": 3}, "u", "u-cl", 3) == []
