from __future__ import annotations

import pytest

from core.ops.histogram import BatchHistogram, bucket_quantile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_values_fall_into_the_first_bucket_whose_bound_is_at_least_the_value() -> None:
    histogram = BatchHistogram((0.1, 0.5, 1.0))
    histogram.observe_many([0.05, 0.1, 0.3, 0.5, 0.7, 2.0, 9.0])
    buckets, total = histogram.cumulative()
    assert buckets == [("0.1", 2), ("0.5", 4), ("1.0", 5), ("+Inf", 7)]
    assert total == pytest.approx(12.65)


def test_observations_accumulate_across_batches() -> None:
    histogram = BatchHistogram((1.0,))
    histogram.observe_many([0.5])
    histogram.observe_many([0.5, 3.0])
    assert histogram.cumulative()[0] == [("1.0", 2), ("+Inf", 3)]


def test_recent_quantiles_only_see_the_window() -> None:
    clock = Clock()
    histogram = BatchHistogram((0.1, 1.0, 10.0), window_s=60, slot_s=10, clock=clock)
    histogram.observe_many([5.0] * 100)  # slow, long ago
    clock.now += 120
    histogram.observe_many([0.05] * 100)  # fast, now
    assert histogram.recent_quantile(0.99) == pytest.approx(0.099)
    assert histogram.cumulative()[0][-1] == ("+Inf", 200)  # the cumulative histogram keeps everything


def test_recent_quantile_is_none_without_observations() -> None:
    assert BatchHistogram((1.0,)).recent_quantile(0.5) is None


def test_quantile_interpolates_inside_the_bucket_like_histogram_quantile() -> None:
    # 10 values <= 0.1 and 10 in (0.1, 0.5]: the median is the top of the first bucket,
    # p75 is halfway up the second.
    assert bucket_quantile(0.5, (0.1, 0.5), [10, 10, 0]) == pytest.approx(0.1)
    assert bucket_quantile(0.75, (0.1, 0.5), [10, 10, 0]) == pytest.approx(0.3)
    assert bucket_quantile(0.99, (0.1, 0.5), [0, 0, 5]) == 0.5  # above the highest bound
