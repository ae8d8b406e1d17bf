"""One sink batch: records in, rows and new table states out. Pure logic (no Faust, no client)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from core.records import RecordError, UsageRecord, replace_key_bytes
from streams.rows import build_row, event_id_int, parse_period_start
from streams.versioning import KeyState, next_state


class Consumed(Protocol):
    """A record as consumed: raw key and value with its log position (Faust's ``Message`` is one)."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class Incoming(NamedTuple):
    """A ``Consumed`` record built by hand (tests, the benchmark)."""

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
    """What a batch does: rows to insert, then table states to store, then everything is acked.

    ``rows`` holds every accepted write, in log order: they go to ``usage_event_history``, whose
    materialized view copies them into ``usage_events`` (infra/migrations/0040), where the
    highest version per key (the batch's last write of that key) is the current value.
    """

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    row_events: list[int] = field(default_factory=list)  # the batch position each row comes from
    states: dict[bytes, tuple[KeyState, int]] = field(default_factory=dict)  # key -> (state, index)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    replays: int = 0


def key_bytes(record: UsageRecord) -> bytes:
    """``record.key.to_bytes()`` without building the ``ReplaceKey`` (a unit test keeps them equal)."""
    return replace_key_bytes(
        record.org_id, record.customer_id, record.metric_key, record.granularity, record.period_start
    )


def decode(item: Consumed) -> tuple[UsageRecord, bytes]:
    """The record and its canonical key bytes, checked: ``RecordError`` if it can never be processed."""
    if item.key is None or item.value is None:
        raise RecordError("record without key or value")
    record = UsageRecord.from_bytes(item.value)
    canonical = key_bytes(record)
    if item.key != canonical:
        # Ingress produces exactly these bytes. Another encoding of the same key (whitespace,
        # escapes) would be a second table state for one key, and could hash to another partition.
        raise RecordError("Kafka key is not the canonical encoding of the record's replace key")
    parse_period_start(record.period_start)
    if record.ingested_at_us <= 0 or record.created_at_us < 0:
        raise RecordError("timestamps must be positive microseconds")
    return record, canonical


def plan_batch(items: Sequence[Consumed], stored: Mapping[bytes, KeyState]) -> BatchPlan:
    """Applies ``items`` in order on top of ``stored`` (the table's states for their keys)."""
    plan = BatchPlan()
    states = plan.states
    rows = plan.rows
    row_events = plan.row_events
    event_ids: dict[bytes, int] = {}
    for index, item in enumerate(items):
        try:
            record, canonical = decode(item)
        except RecordError as exc:
            plan.dead_letters.append(DeadLetter(index, str(exc)))
            continue
        key = item.key
        assert key is not None
        known = states.get(key)
        previous = known[0] if known is not None else stored.get(key)
        state = next_state(previous, item.partition, item.offset, record.ingested_at_us)
        if state is None:
            plan.replays += 1
            continue
        event_id = event_ids.get(canonical)
        if event_id is None:
            event_id = event_ids[canonical] = event_id_int(canonical)
        states[key] = (state, index)
        rows.append(build_row(record, state, event_id))
        row_events.append(index)
    return plan
