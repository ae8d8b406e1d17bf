from __future__ import annotations

from datetime import UTC, date, datetime

from query.paging import (
    DaySplit,
    PageWindow,
    day_of,
    day_start_us,
    page_window,
    partitions_in_range,
    split_days,
)

D1, D2, D3, DEC31 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3), date(2025, 12, 31)


def us(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000


def test_day_bounds() -> None:
    assert day_start_us(D2) == us(2026, 1, 2)
    assert day_start_us(DEC31) == us(2025, 12, 31)


def test_page_inside_one_day() -> None:
    counts = [(D1, 10), (D2, 10), (D3, 10)]
    assert page_window(counts, 12, 5) == PageWindow(us(2026, 1, 2), us(2026, 1, 3) - 1, 2)
    assert page_window(counts, 0, 10) == PageWindow(us(2026, 1, 1), us(2026, 1, 2) - 1, 0)


def test_page_across_days_and_years_and_at_the_end() -> None:
    counts = [(DEC31, 3), (D1, 1), (D3, 10)]
    assert page_window(counts, 2, 5) == PageWindow(us(2025, 12, 31), us(2026, 1, 4) - 1, 2)
    assert page_window(counts, 13, 50) == PageWindow(us(2026, 1, 3), us(2026, 1, 4) - 1, 9)


def test_past_the_end_or_no_match() -> None:
    assert page_window([(D1, 3)], 3, 10) is None
    assert page_window([], 0, 10) is None


def test_a_range_splits_into_whole_days_and_partial_ones() -> None:
    assert split_days(None, None) == DaySplit(None, None, ())
    whole = split_days(us(2026, 1, 1), us(2026, 1, 4) - 1)  # from midnight to the last microsecond
    assert whole == DaySplit(D1, D3, ())
    partial = split_days(us(2026, 1, 1, 6), us(2026, 1, 3, 18))
    assert partial == DaySplit(
        D2, D2, ((D1, us(2026, 1, 1, 6), us(2026, 1, 2) - 1), (D3, us(2026, 1, 3), us(2026, 1, 3, 18)))
    )
    assert split_days(us(2026, 1, 1, 6), None) == DaySplit(
        D2, None, ((D1, us(2026, 1, 1, 6), us(2026, 1, 2) - 1),)
    )
    assert split_days(None, us(2026, 1, 3)) == DaySplit(None, D2, ((D3, us(2026, 1, 3), us(2026, 1, 3)),))
    one_day = split_days(us(2026, 1, 2, 9), us(2026, 1, 2, 10))
    assert one_day == DaySplit(D3, D2, ((D2, us(2026, 1, 2, 9), us(2026, 1, 2, 10)),))  # no whole day


def test_days_of_moments_before_the_epoch_and_at_the_ends_of_the_calendar() -> None:
    assert day_of(us(1969, 12, 31, 23)) == date(1969, 12, 31)
    # The API accepts years 1 to 9999 (stored values lie in 1900-2299): no overflow at the ends.
    first = us(1, 1, 1, 1)
    last = us(9999, 12, 31, 1)
    assert split_days(first, last).partial[0][0] == date(1, 1, 1)
    assert split_days(last, None).first_day == date(9999, 12, 31)
    assert partitions_in_range(["202601"], first, last) == ["202601"]


def test_only_the_months_a_range_can_reach_are_read() -> None:
    partitions = ["202512", "202601", "202602", "202603", "all"]
    assert partitions_in_range(partitions, None, None) == partitions
    # A weekly value from Monday 2026-01-26 lies up to February 1st: January is reachable from February 1st.
    assert partitions_in_range(partitions, us(2026, 2, 1), us(2026, 2, 10)) == ["202601", "202602", "all"]
    assert partitions_in_range(partitions, us(2026, 2, 7), None) == ["202602", "202603", "all"]
    assert partitions_in_range(partitions, None, us(2025, 12, 31)) == ["202512", "all"]
