"""A histogram fed a whole batch of observations at once, with a recent window for quantiles.

``prometheus_client.Histogram.observe`` takes a lock per value; the streams sink observes the
freshness of every row of a 10,000-row batch, so values are counted into buckets in one pass
here and exported through a custom collector (``HistogramCollector``). The recent window (slots
of ``slot_s`` seconds) answers "p99 over the last minutes" for ``quivly status`` without a
Prometheus server. Pure logic: no prometheus_client import.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence


class BatchHistogram:
    def __init__(
        self,
        bounds: Sequence[float],
        window_s: float = 300.0,
        slot_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bounds = tuple(sorted(bounds))
        self._counts = [0] * (len(self.bounds) + 1)  # last: above the highest bound (+Inf)
        self._sum = 0.0
        self._slot_s = slot_s
        self._slots = max(1, math.ceil(window_s / slot_s))
        self._recent: dict[int, list[int]] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def observe_many(self, values: Iterable[float]) -> None:
        bounds = self.bounds
        batch = [0] * (len(bounds) + 1)
        total = 0.0
        for value in values:
            batch[bisect_left(bounds, value)] += 1
            total += value
        slot = int(self._clock() // self._slot_s)
        with self._lock:
            for index, count in enumerate(batch):
                self._counts[index] += count
            self._sum += total
            recent = self._recent.setdefault(slot, [0] * len(batch))
            for index, count in enumerate(batch):
                recent[index] += count
            for old in [s for s in self._recent if s <= slot - self._slots]:
                del self._recent[old]

    def cumulative(self) -> tuple[list[tuple[str, int]], float]:
        """``[(le, cumulative count), ..., ("+Inf", total)]`` and the sum, as Prometheus exports them."""
        with self._lock:
            counts = list(self._counts)
            total = self._sum
        buckets: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip([*map(_le, self.bounds), "+Inf"], counts, strict=True):
            running += count
            buckets.append((bound, running))
        return buckets, total

    def recent_counts(self) -> list[int]:
        """Per-bucket counts of the last window (the slot in progress included)."""
        now_slot = int(self._clock() // self._slot_s)
        merged = [0] * (len(self.bounds) + 1)
        with self._lock:
            for slot, counts in self._recent.items():
                if slot > now_slot - self._slots:
                    for index, count in enumerate(counts):
                        merged[index] += count
        return merged

    def recent_quantile(self, q: float) -> float | None:
        """The q-quantile of the recent window, interpolated inside its bucket as PromQL's
        ``histogram_quantile`` does; ``None`` without observations."""
        return bucket_quantile(q, self.bounds, self.recent_counts())


def bucket_quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float | None:
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    running = 0
    for index, count in enumerate(counts):
        if running + count >= rank and count > 0:
            if index == len(bounds):  # above the highest bound: the highest bound is all we know
                return bounds[-1]
            lower = bounds[index - 1] if index > 0 else 0.0
            upper = bounds[index]
            return lower + (upper - lower) * (rank - running) / count
        running += count
    return bounds[-1]


def _le(bound: float) -> str:
    return repr(float(bound)) if not math.isinf(bound) else "+Inf"
