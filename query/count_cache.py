"""Match counts per partition, reused while the partition's parts stay the same (pure).

A whole-organization search needs its matches counted per day (``query.paging``), which means
reading every current value of the organization: hundreds of milliseconds at 10 million values.
Parts are immutable, and every version of a value lives in one partition (the partition key
``toYYYYMM(period_start)`` is part of the replace key), so the matches of one partition can only
change when its set of active parts changes (an insert or a merge). The cache keeps what was
counted in each partition next to a fingerprint of that set; a search recounts only the partitions
whose fingerprint changed: usually the few open months that streams is writing to.

Two things are kept per partition:

* a ``PartitionProfile`` per organization: its current values per (metric, event_type,
  properties text) and day. A search that is not scoped to a customer adds up the matching keys
  of the profile (on the whole days of its created_at range), so a filter set never seen before
  is answered without reading the values again;
* ``DayCounts`` per search, for partitions whose profile would be too large (too many distinct
  keys), or when profiles are turned off.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

DayCounts = tuple[tuple[date, int], ...]  # matches per UTC day of created_at
Value = TypeVar("Value")


@dataclass(frozen=True)
class Lookup(Generic[Value]):
    cached: dict[str, Value]  # partition ID -> what was counted, still valid
    stale: list[str]  # partition IDs to count again (never counted, or their parts changed)


class PartitionCountCache(Generic[Value]):
    """An LRU of ``(search, partition) -> (parts fingerprint, value)`` holding at most ``capacity``
    units (each value weighs ``weight(value)``, 1 by default); thread-safe."""

    def __init__(self, capacity: int, weight: Callable[[Value], int] = lambda _: 1) -> None:
        self.capacity = capacity
        self._weight = weight
        self._held = 0
        self._entries: OrderedDict[tuple[str, str], tuple[str, Value]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, search: str, fingerprints: Mapping[str, str]) -> Lookup[Value]:
        """``fingerprints``: partition ID -> fingerprint of its active parts, for every partition."""
        cached: dict[str, Value] = {}
        stale: list[str] = []
        with self._lock:
            for partition, fingerprint in fingerprints.items():
                entry = self._entries.get((search, partition))
                if entry is not None and entry[0] == fingerprint:
                    self._entries.move_to_end((search, partition))
                    cached[partition] = entry[1]
                else:
                    stale.append(partition)
        return Lookup(cached, sorted(stale))

    def store(self, search: str, partition: str, fingerprint: str, value: Value) -> None:
        with self._lock:
            previous = self._entries.pop((search, partition), None)
            if previous is not None:
                self._held -= self._weight(previous[1])
            self._entries[(search, partition)] = (fingerprint, value)
            self._held += self._weight(value)
            while self._held > self.capacity:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._held -= self._weight(evicted)


ProfileKey = tuple[str, str, int]  # (metric key, event_type, properties hash)


@dataclass(frozen=True)
class ProfileFilter:
    """What a search asks of a profile; None means any."""

    metric_key: str | None = None
    event_type: str | None = None
    properties: Collection[int] | None = None  # properties hashes that every property filter matches
    first_day: date | None = None  # whole UTC days of created_at, inclusive
    last_day: date | None = None

    def admits(self, key: ProfileKey) -> bool:
        metric_key, event_type, properties_hash = key
        return (
            (self.metric_key is None or metric_key == self.metric_key)
            and (self.event_type is None or event_type == self.event_type)
            and (self.properties is None or properties_hash in self.properties)
        )


@dataclass(frozen=True)
class PartitionProfile:
    """One organization's current values in one partition, per (metric, event_type, properties
    hash) and UTC day of created_at (an array per key, day by day from ``first_day``: a month and a
    weekly value's spill into the next one, at most 37 days)."""

    first_day: date
    values: Mapping[ProfileKey, array[int]]

    @classmethod
    def from_rows(
        cls, rows: Sequence[tuple[str, str, int, Sequence[date], Sequence[int]]]
    ) -> PartitionProfile:
        """``rows``: (metric key, event_type, properties hash, days, values on those days) per key."""
        days = [day for row in rows for day in row[3]]
        if not days:
            return cls(date.min, {})
        first_day = min(days)
        span = (max(days) - first_day).days + 1
        values: dict[ProfileKey, array[int]] = {}
        for metric_key, event_type, properties_hash, key_days, counts in rows:
            per_day = array("q", bytes(8 * span))
            for day, count in zip(key_days, counts, strict=True):
                per_day[(day - first_day).days] += count
            values[(metric_key, event_type, properties_hash)] = per_day
        return cls(first_day, values)

    @property
    def weight(self) -> int:
        return max(1, len(self.values))

    def day_counts(self, wanted: ProfileFilter) -> DayCounts:
        """Matches per day of the values whose key ``wanted`` admits, on its days only."""
        selected = [per_day for key, per_day in self.values.items() if wanted.admits(key)]
        totals = list(map(sum, zip(*selected, strict=True)))  # day by day, in C
        start = self.first_day.toordinal()
        first = -(2**62) if wanted.first_day is None else wanted.first_day.toordinal()
        last = 2**62 if wanted.last_day is None else wanted.last_day.toordinal()
        return tuple(
            (date.fromordinal(start + index), count)
            for index, count in enumerate(totals)
            if count and first <= start + index <= last
        )


def merge_day_counts(per_partition: Iterable[DayCounts]) -> list[tuple[date, int]]:
    """Matches per day over all partitions (a weekly value may lie in the next month, so one day
    can have matches in two partitions), ascending."""
    totals: dict[date, int] = {}
    for counts in per_partition:
        for day, count in counts:
            totals[day] = totals.get(day, 0) + count
    return sorted((day, count) for day, count in totals.items() if count)
