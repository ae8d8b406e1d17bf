"""One sink batch: records in, rows and new table states out. Pure logic (no Faust, no client)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.records import RecordError, ReplaceKey, UsageRecord
from streams.rows import build_row, parse_period_start
from streams.versioning import KeyState, next_state


@dataclass(frozen=True, slots=True)
class Incoming:
    """A record as consumed: raw key and value with its log position."""

    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    index: int  # position in the batch
    reason: str


@dataclass
class BatchPlan:
    """What a batch does: rows to insert, then table states to store, then everything is acked."""

    current_rows: list[tuple[Any, ...]] = field(default_factory=list)  # one per key (its latest)
    history_rows: list[tuple[Any, ...]] = field(default_factory=list)  # every accepted write
    states: dict[bytes, tuple[KeyState, int]] = field(default_factory=dict)  # key -> (state, index)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    replays: int = 0


def decode(item: Incoming) -> UsageRecord:
    """The record, checked: raises ``RecordError`` for anything that can never be processed."""
    if item.key is None or item.value is None:
        raise RecordError("record without key or value")
    record = UsageRecord.from_bytes(item.value)
    # Fast path: ingress produces exactly ``record.key.to_bytes()``; other encodings of the same
    # key (whitespace, escapes) are still accepted through the parse.
    if item.key != record.key.to_bytes() and ReplaceKey.from_bytes(item.key) != record.key:
        raise RecordError("Kafka key does not match the record's replace key")
    parse_period_start(record.period_start)
    if record.ingested_at_us <= 0 or record.created_at_us < 0:
        raise RecordError("timestamps must be positive microseconds")
    return record


def plan_batch(items: Sequence[Incoming], stored: Mapping[bytes, KeyState]) -> BatchPlan:
    """Applies ``items`` in order on top of ``stored`` (the table's states for their keys)."""
    plan = BatchPlan()
    latest: dict[bytes, tuple[Any, ...]] = {}
    for index, item in enumerate(items):
        try:
            record = decode(item)
        except RecordError as exc:
            plan.dead_letters.append(DeadLetter(index, str(exc)))
            continue
        key = item.key
        assert key is not None
        previous = plan.states[key][0] if key in plan.states else stored.get(key)
        state = next_state(previous, item.partition, item.offset, record.ingested_at_us)
        if state is None:
            plan.replays += 1
            continue
        row = build_row(record, state)
        plan.states[key] = (state, index)
        plan.history_rows.append(row)
        latest[key] = row
    plan.current_rows = list(latest.values())
    return plan
