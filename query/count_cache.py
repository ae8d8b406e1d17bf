"""Match counts per partition, reused while the partition's parts stay the same (pure).

A whole-organization search needs its matches counted per day (``query.paging``), which means
reading every current value of the organization: hundreds of milliseconds at 10 million values.
Parts are immutable, and every version of a value lives in one partition (the partition key
``toYYYYMM(period_start)`` is part of the replace key), so the matches of one partition can only
change when its set of active parts changes (an insert or a merge). The cache keeps each
partition's counts next to a fingerprint of that set; a search recounts only the partitions whose
fingerprint changed: usually the few open months that streams is writing to.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

DayCounts = tuple[tuple[date, int], ...]  # matches per UTC day of created_at


@dataclass(frozen=True)
class Lookup:
    cached: dict[str, DayCounts]  # partition ID -> counts still valid
    stale: list[str]  # partition IDs to count again (never counted, or their parts changed)


class PartitionCountCache:
    """An LRU of ``(search, partition) -> (parts fingerprint, day counts)``; thread-safe."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[str, DayCounts]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, search: str, fingerprints: Mapping[str, str]) -> Lookup:
        """``fingerprints``: partition ID -> fingerprint of its active parts, for every partition."""
        cached: dict[str, DayCounts] = {}
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

    def store(self, search: str, partition: str, fingerprint: str, counts: DayCounts) -> None:
        with self._lock:
            self._entries[(search, partition)] = (fingerprint, counts)
            self._entries.move_to_end((search, partition))
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)


def merge_day_counts(per_partition: Iterable[DayCounts]) -> list[tuple[date, int]]:
    """Matches per day over all partitions (a weekly value may lie in the next month, so one day
    can have matches in two partitions), ascending."""
    totals: dict[date, int] = {}
    for counts in per_partition:
        for day, count in counts:
            totals[day] = totals.get(day, 0) + count
    return sorted((day, count) for day, count in totals.items() if count)
